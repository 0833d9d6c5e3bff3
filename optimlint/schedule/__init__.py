"""``optimlint schedule``: the learning rate per optimizer step of each optimizer/scheduler pair."""

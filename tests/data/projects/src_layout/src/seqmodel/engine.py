import torch


def train_epoch(model, loader, optimizer, scaler, clip=1.0):
    model.train()
    for tokens, labels in loader:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.float16):
            loss = model(tokens, labels=labels)
        scaler.scale(loss).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        scaler.step(optimizer)
        scaler.update()

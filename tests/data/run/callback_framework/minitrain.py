"""A few-line stand-in for a training framework (ignite, Lightning, a lab's own trainer): it owns
the loop and calls back into user code on events. The user never writes `scheduler.step()`."""


class Loop:
    def __init__(self, model, optimizer, loss_fn):
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.handlers = {"epoch_start": [], "iteration_end": [], "epoch_end": []}

    def on(self, event, handler):
        self.handlers[event].append(handler)

    def fire(self, event):
        for handler in self.handlers[event]:
            handler()

    def fit(self, loader, epochs):
        for _ in range(epochs):
            self.fire("epoch_start")
            for xb, yb in loader:
                self.optimizer.zero_grad()
                loss = self.loss_fn(self.model(xb), yb)
                loss.backward()
                self.optimizer.step()
                self.fire("iteration_end")
            self.fire("epoch_end")
        return loss.item()

"""A Trainer class, as in many research code bases. Correct except for one ordering bug."""

import torch
from torch import nn


class Trainer:
    def __init__(self, model, lr=0.05, epochs=4):
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.to(self.device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=0.9)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=epochs)
        self.epochs = epochs

    def train_epoch(self, batches):
        self.model.train()
        total = 0.0
        for x, y in batches:
            x, y = x.to(self.device), y.to(self.device)
            self.optimizer.zero_grad()
            loss = nn.functional.mse_loss(self.model(x), y)
            loss.backward()
            self.optimizer.step()
            total += loss.item()
        return total / len(batches)

    def fit(self, batches):
        for epoch in range(self.epochs):
            self.scheduler.step()
            print(f"epoch {epoch}: loss {self.train_epoch(batches):.4f}")


if __name__ == "__main__":
    torch.manual_seed(0)
    x = torch.randn(128, 4)
    batches = [(x[i:i + 16], x[i:i + 16].sum(dim=1, keepdim=True)) for i in range(0, 128, 16)]
    Trainer(nn.Linear(4, 1)).fit(batches)

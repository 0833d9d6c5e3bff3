# ExponentialLR owned by a Trainer class: fit() loops over epochs, train_epoch() over batches.
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Trainer:
    def __init__(self, model, train_loader, val_loader, epochs=10, lr=3e-3, gamma=0.8):
        self.model = model
        self.train_loader = train_loader
        self.val_loader = val_loader
        self.epochs = epochs
        self.criterion = nn.MSELoss()
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, gamma=gamma)

    def train_epoch(self):
        self.model.train()
        total = 0.0
        for inputs, targets in self.train_loader:
            self.optimizer.zero_grad()
            loss = self.criterion(self.model(inputs), targets)
            loss.backward()
            self.optimizer.step()
            total += loss.item()
        return total / len(self.train_loader)

    @torch.no_grad()
    def evaluate(self):
        self.model.eval()
        losses = [self.criterion(self.model(x), y).item() for x, y in self.val_loader]
        return sum(losses) / len(losses)

    def fit(self):
        for epoch in range(self.epochs):
            train_loss = self.train_epoch()
            val_loss = self.evaluate()
            self.scheduler.step()
            print(f"[{epoch}] train {train_loss:.4f} val {val_loss:.4f}")


def main():
    torch.manual_seed(2)
    train_set = TensorDataset(torch.randn(96, 8), torch.randn(96, 1))
    val_set = TensorDataset(torch.randn(32, 8), torch.randn(32, 1))
    train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=32)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))
    trainer = Trainer(model, train_loader, val_loader, epochs=5, lr=3e-3)
    trainer.fit()


if __name__ == "__main__":
    main()

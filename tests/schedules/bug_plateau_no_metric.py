# BUG (OPT301): ReduceLROnPlateau stepped without its metric: TypeError at the end of the first epoch.
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Trainer:
    def __init__(self, epochs=4):
        torch.manual_seed(23)
        self.epochs = epochs
        self.loader = DataLoader(TensorDataset(torch.randn(24, 8), torch.randn(24, 1)), batch_size=8)
        self.model = nn.Linear(8, 1)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(self.optimizer, patience=2)

    def fit(self):
        for epoch in range(self.epochs):
            for x, y in self.loader:
                self.optimizer.zero_grad()
                nn.functional.mse_loss(self.model(x), y).backward()
                self.optimizer.step()
            self.scheduler.step()


if __name__ == "__main__":
    Trainer().fit()

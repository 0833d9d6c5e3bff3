# CosineAnnealingWarmRestarts (T_0=2, T_mult=2) stepped once per epoch with a plain scheduler.step().
import torch
from torch import nn
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts
from torch.utils.data import DataLoader, TensorDataset

NUM_EPOCHS = 6


def run():
    torch.manual_seed(7)
    loader = DataLoader(TensorDataset(torch.randn(24, 8), torch.randn(24, 1)), batch_size=8)
    model = nn.Linear(8, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = CosineAnnealingWarmRestarts(optimizer, T_0=2, T_mult=2, eta_min=1e-4)
    for epoch in range(NUM_EPOCHS):
        for inputs, targets in loader:
            optimizer.zero_grad()
            nn.functional.mse_loss(model(inputs), targets).backward()
            optimizer.step()
        scheduler.step()


if __name__ == "__main__":
    run()

# BUG (OPT302): scheduler.step(epoch) passes the epoch index, so CosineAnnealingLR lags one epoch behind.
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

N_EPOCHS = 5

torch.manual_seed(22)
loader = DataLoader(TensorDataset(torch.randn(15, 8), torch.randn(15, 1)), batch_size=5)
model = nn.Linear(8, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=N_EPOCHS)
for epoch in range(N_EPOCHS):
    for x, y in loader:
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    scheduler.step(epoch)

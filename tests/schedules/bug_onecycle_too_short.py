# BUG: OneCycleLR sized for an old 3-epoch run while the loop now runs 4 epochs: ValueError past total_steps.
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EPOCHS = 4

torch.manual_seed(24)
train_loader = DataLoader(TensorDataset(torch.randn(40, 8), torch.randn(40, 1)), batch_size=8, shuffle=True)
model = nn.Linear(8, 1)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, total_steps=3 * len(train_loader))
for epoch in range(EPOCHS):
    for x, y in train_loader:
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        scheduler.step()

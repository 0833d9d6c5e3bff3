# CosineAnnealingWarmRestarts stepped per batch with a fractional epoch: scheduler.step(epoch + i / iters).
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EPOCHS = 4

torch.manual_seed(8)
dataset = TensorDataset(torch.randn(40, 8), torch.randn(40, 1))
dataloader = DataLoader(dataset, batch_size=8, shuffle=True)
model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=1, T_mult=2, eta_min=1e-4)
criterion = nn.MSELoss()

iters = len(dataloader)
for epoch in range(EPOCHS):
    for i, (inputs, labels) in enumerate(dataloader):
        optimizer.zero_grad()
        loss = criterion(model(inputs), labels)
        loss.backward()
        optimizer.step()
        scheduler.step(epoch + i / iters)
    print(epoch, loss.item())

# BUG (OPT303): OneCycleLR sized in batches (epochs * steps_per_epoch) but stepped once per epoch, after the batch loop.
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EPOCHS = 5

torch.manual_seed(20)
loader = DataLoader(TensorDataset(torch.randn(36, 8), torch.randn(36, 1)), batch_size=6, shuffle=True)
model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.01, epochs=EPOCHS, steps_per_epoch=len(loader))
criterion = nn.MSELoss()

for epoch in range(EPOCHS):
    model.train()
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
    scheduler.step()
    print(f"epoch {epoch}: {loss.item():.4f}")

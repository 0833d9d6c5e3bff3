# StepLR stepped once per epoch (after the batch loop) in a module-level script with constants at the top.
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EPOCHS = 6
BATCH_SIZE = 16
LR = 0.1
STEP_SIZE = 2
GAMMA = 0.5

torch.manual_seed(0)
features = torch.randn(64, 8)
targets = features.sum(dim=1, keepdim=True) + 0.1 * torch.randn(64, 1)
train_loader = DataLoader(TensorDataset(features, targets), batch_size=BATCH_SIZE, shuffle=True)

model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
criterion = nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=STEP_SIZE, gamma=GAMMA)

for epoch in range(EPOCHS):
    model.train()
    running = 0.0
    for inputs, labels in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(inputs), labels)
        loss.backward()
        optimizer.step()
        running += loss.item()
    scheduler.step()
    print(f"epoch {epoch + 1}/{EPOCHS} loss={running / len(train_loader):.4f} lr={scheduler.get_last_lr()[0]:.4g}")

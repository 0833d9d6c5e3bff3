"""A small classifier trained with a warm-up schedule. optimlint finds two bugs here."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

features = torch.randn(512, 20)
labels = (features[:, :5].sum(dim=1) > 0).long()
loader = DataLoader(TensorDataset(features, labels), batch_size=64, shuffle=True)

model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 2))
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=20)
model.to(device)
criterion = nn.CrossEntropyLoss()

for epoch in range(3):
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        warmup.step()
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch}: loss {loss.item():.4f} lr {warmup.get_last_lr()[0]:.5f}")

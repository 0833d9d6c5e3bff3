"""A small AMP-free training script that prints every loss at full precision (for the numerics
test of `optimlint run`): Adam with a per-batch OneCycleLR, clipping and gradient accumulation."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
X = torch.randn(512, 16)
y = (X[:, :8].sum(dim=1, keepdim=True) > 0).float()
loader = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True)
model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
accumulate = 2
epochs = 3
scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, total_steps=epochs * len(loader) // accumulate)
loss_fn = nn.BCEWithLogitsLoss()
for epoch in range(epochs):
    optimizer.zero_grad()
    for i, (xb, yb) in enumerate(loader):
        loss = loss_fn(model(xb), yb) / accumulate
        loss.backward()
        if (i + 1) % accumulate == 0:
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        print(repr(loss.item()))

# ChainedScheduler of ConstantLR (x0.5 for the first 2 epochs) and ExponentialLR, children built inline.
import torch
from torch import nn
from torch.optim import lr_scheduler
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(14)
loader = DataLoader(TensorDataset(torch.randn(12, 8), torch.randn(12, 1)), batch_size=4)
model = nn.Linear(8, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
scheduler = lr_scheduler.ChainedScheduler(
    [
        lr_scheduler.ConstantLR(optimizer, factor=0.5, total_iters=2),
        lr_scheduler.ExponentialLR(optimizer, gamma=0.9),
    ]
)
for epoch in range(5):
    for x, y in loader:
        optimizer.zero_grad()
        loss = (model(x) - y).pow(2).mean()
        loss.backward()
        optimizer.step()
    scheduler.step()

# CosineAnnealingLR whose T_max comes from a YAML config file: not known from the file alone (--set t_max=...).
import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

with open("config.yaml") as handle:
    cfg = yaml.safe_load(handle)

loader = DataLoader(TensorDataset(torch.randn(16, 8), torch.randn(16, 1)), batch_size=4)
model = nn.Linear(8, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg["t_max"])
for epoch in range(cfg["epochs"]):
    for x, y in loader:
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    scheduler.step()

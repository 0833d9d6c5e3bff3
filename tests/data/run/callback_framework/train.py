"""Everything about the schedule comes from config.json: which optimizer and scheduler, and on
which event of the loop the scheduler steps. Static analysis sees `getattr(...)(...)` and a
bound method handed to a library; only a run shows the order."""
import json
from pathlib import Path

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

from minitrain import Loop


def build(module, spec, *args):
    spec = dict(spec)
    return getattr(module, spec.pop("name"))(*args, **spec)


def main():
    config = json.loads((Path(__file__).parent / "config.json").read_text())
    torch.manual_seed(0)
    X = torch.randn(256, 8)
    y = X[:, :3].sum(dim=1, keepdim=True)
    loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    optimizer = build(torch.optim, config["optimizer"], model.parameters())
    scheduler = build(torch.optim.lr_scheduler, config["scheduler"], optimizer)
    loop = Loop(model, optimizer, nn.MSELoss())
    loop.on(config["scheduler_event"], scheduler.step)
    print(f"final loss {loop.fit(loader, config['epochs']):.4f}")


if __name__ == "__main__":
    main()

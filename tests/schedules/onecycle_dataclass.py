# OneCycleLR (linear anneal) built from epochs + steps_per_epoch, a dataclass config and ceil(len(dataset) / batch).
import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


@dataclass
class TrainConfig:
    epochs: int = 3
    batch_size: int = 16
    samples: int = 120
    max_lr: float = 0.02
    div_factor: float = 10.0
    final_div_factor: float = 100.0


def main():
    cfg = TrainConfig()
    torch.manual_seed(5)
    train_set = TensorDataset(torch.randn(cfg.samples, 8), torch.randn(cfg.samples, 1))
    train_loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True)
    steps_per_epoch = math.ceil(len(train_set) / cfg.batch_size)

    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.max_lr, momentum=0.9, nesterov=True)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=cfg.max_lr,
        epochs=cfg.epochs,
        steps_per_epoch=steps_per_epoch,
        anneal_strategy="linear",
        div_factor=cfg.div_factor,
        final_div_factor=cfg.final_div_factor,
    )
    loss_fn = nn.SmoothL1Loss()
    for epoch in range(cfg.epochs):
        for batch in train_loader:
            inputs, targets = batch
            optimizer.zero_grad()
            loss_fn(model(inputs), targets).backward()
            optimizer.step()
            scheduler.step()
        print(f"epoch {epoch} done, lr {scheduler.get_last_lr()[0]:.5f}")


if __name__ == "__main__":
    main()

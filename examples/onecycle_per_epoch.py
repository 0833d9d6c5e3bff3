"""Fine-tune a small regressor with a one-cycle learning rate.

The bug: OneCycleLR is sized in batches (epochs * len(loader)) but stepped once per epoch, after
the batch loop. The warm-up never finishes: training ends at a fraction of max_lr.
"""

import argparse

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-lr", type=float, default=0.05)
    return parser.parse_args()


def main():
    args = parse_args()
    features = torch.randn(640, 10)
    targets = features @ torch.randn(10, 1)
    loader = DataLoader(TensorDataset(features, targets), batch_size=args.batch_size, shuffle=True)

    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=args.max_lr / 25, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.max_lr, epochs=args.epochs, steps_per_epoch=len(loader)
    )

    for epoch in range(args.epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
        scheduler.step()
        print(f"epoch {epoch}: loss {loss.item():.4f}, lr {scheduler.get_last_lr()[0]:.5f}")


if __name__ == "__main__":
    main()

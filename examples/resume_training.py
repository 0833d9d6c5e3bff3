"""Resume from a checkpoint: the optimizer state is loaded while the model is still on the CPU."""

import argparse
import os
import tempfile

import torch
from torch import nn, optim
from torch.optim.lr_scheduler import StepLR


def train_one_epoch(model, loader, optimizer, device):
    model.train()
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
    return loss.item()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    x = torch.randn(256, 8)
    loader = [(x[i:i + 32], x[i:i + 32, :1] * 2.0) for i in range(0, 256, 32)]

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "last.pt")
        model = nn.Linear(8, 1)
        optimizer = optim.Adam(model.parameters(), lr=1e-2)
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, path)

        checkpoint = torch.load(path)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        model.to(device)
        scheduler = StepLR(optimizer, step_size=1, gamma=0.7)

        for epoch in range(args.epochs):
            scheduler.step()
            loss = train_one_epoch(model, loader, optimizer, device)
            print(f"epoch {epoch}: loss {loss:.4f}")


if __name__ == "__main__":
    main()

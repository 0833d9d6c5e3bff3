# MultiStepLR stepped per epoch inside main(); every hyper-parameter comes from an argparse default.
import argparse

import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset


def parse_args():
    parser = argparse.ArgumentParser(description="regression with a multi-step learning rate")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--milestones", type=int, nargs="+", default=[3, 6])
    parser.add_argument("--gamma", type=float, default=0.2)
    parser.add_argument("--log-every", type=int, default=2)
    return parser.parse_args()


def main():
    args = parse_args()
    torch.manual_seed(1)
    x = torch.randn(50, 8)
    y = (x[:, :1] > 0).float()
    dataset = TensorDataset(x, y)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True)

    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    loss_fn = nn.BCEWithLogitsLoss()
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=1e-4)
    scheduler = optim.lr_scheduler.MultiStepLR(optimizer, milestones=args.milestones, gamma=args.gamma)

    for epoch in range(args.epochs):
        model.train()
        for batch_x, batch_y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(batch_x), batch_y)
            loss.backward()
            optimizer.step()
        scheduler.step()
        if epoch % args.log_every == 0:
            print(f"epoch {epoch}: loss {loss.item():.4f}, lr {optimizer.param_groups[0]['lr']:.5f}")


if __name__ == "__main__":
    main()

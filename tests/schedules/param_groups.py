# Two param groups (backbone lr=0.01, head inherits lr=0.1) under one CosineAnnealingLR stepped per epoch.
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(8, 16), nn.ReLU())
        self.head = nn.Linear(16, 2)

    def forward(self, x):
        return self.head(self.backbone(x))


def main():
    torch.manual_seed(15)
    loader = DataLoader(TensorDataset(torch.randn(30, 8), torch.randint(0, 2, (30,))), batch_size=10, shuffle=True)
    model = Net()
    optimizer = torch.optim.SGD(
        [
            {"params": model.backbone.parameters(), "lr": 0.01},
            {"params": model.head.parameters()},
        ],
        lr=0.1,
        momentum=0.9,
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=4)
    for epoch in range(4):
        for x, y in loader:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        scheduler.step()


if __name__ == "__main__":
    main()

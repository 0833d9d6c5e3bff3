# CyclicLR (triangular) stepped per batch inside a train_one_epoch(model, loader, optimizer, scheduler) helper.
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def train_one_epoch(model, loader, optimizer, scheduler, criterion):
    model.train()
    for step, (inputs, targets) in enumerate(loader):
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
        scheduler.step()
    return loss.item()


def main():
    torch.manual_seed(3)
    data = TensorDataset(torch.randn(80, 8), torch.randint(0, 3, (80,)))
    loader = DataLoader(data, batch_size=8, shuffle=True)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.CyclicLR(
        optimizer, base_lr=1e-3, max_lr=1e-2, step_size_up=4, mode="triangular"
    )
    for epoch in range(4):
        loss = train_one_epoch(model, loader, optimizer, scheduler, criterion)
        print(f"epoch {epoch}: {loss:.4f}")


if __name__ == "__main__":
    main()

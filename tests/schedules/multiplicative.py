# MultiplicativeLR with an epoch-dependent factor, stepped per epoch, RMSprop optimizer.
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EPOCHS = 7
BATCH = 5


def main():
    torch.manual_seed(9)
    inputs = torch.randn(20, 4)
    loader = DataLoader(TensorDataset(inputs, inputs.sum(1, keepdim=True)), batch_size=BATCH)
    model = nn.Linear(4, 1)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.MultiplicativeLR(optimizer, lr_lambda=lambda epoch: 0.95 if epoch < 3 else 0.8)
    for epoch in range(EPOCHS):
        for x, y in loader:
            optimizer.zero_grad()
            torch.nn.functional.l1_loss(model(x), y).backward()
            optimizer.step()
        scheduler.step()


if __name__ == "__main__":
    main()

# OneCycleLR with gradient accumulation: optimizer and scheduler step every ACCUMULATION_STEPS batches.
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EPOCHS = 3
ACCUMULATION_STEPS = 2
MAX_LR = 0.1


def main():
    torch.manual_seed(18)
    loader = DataLoader(TensorDataset(torch.randn(48, 8), torch.randn(48, 1)), batch_size=6, shuffle=True)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=MAX_LR, momentum=0.9)
    updates_per_epoch = len(loader) // ACCUMULATION_STEPS
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=MAX_LR, total_steps=EPOCHS * updates_per_epoch, pct_start=0.25
    )
    for epoch in range(EPOCHS):
        optimizer.zero_grad()
        for i, (x, y) in enumerate(loader):
            loss = nn.functional.mse_loss(model(x), y) / ACCUMULATION_STEPS
            loss.backward()
            if (i + 1) % ACCUMULATION_STEPS == 0:
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()


if __name__ == "__main__":
    main()

# CosineAnnealingLR over all epochs, stepped per epoch, with the training code under `if __name__ == "__main__":`.
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EPOCHS = 6
LR = 1e-3
ETA_MIN = 1e-5

if __name__ == "__main__":
    torch.manual_seed(6)
    train_data = TensorDataset(torch.randn(40, 8), torch.randn(40, 1))
    val_data = TensorDataset(torch.randn(16, 8), torch.randn(16, 1))
    train_loader = DataLoader(train_data, batch_size=8, shuffle=True)
    val_loader = DataLoader(val_data, batch_size=8)

    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    optimizer = torch.optim.Adam(net.parameters(), lr=LR)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS, eta_min=ETA_MIN)
    criterion = nn.MSELoss()

    for epoch in range(EPOCHS):
        net.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            criterion(net(x), y).backward()
            optimizer.step()
        net.eval()
        with torch.no_grad():
            val = sum(criterion(net(x), y).item() for x, y in val_loader) / len(val_loader)
        scheduler.step()
        print(f"epoch {epoch}: val {val:.4f}")

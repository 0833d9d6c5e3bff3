# OneCycleLR stepped per batch, total_steps = epochs * len(loader), hyper-parameters in a CONFIG dict.
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import OneCycleLR
from torch.utils.data import DataLoader, TensorDataset

CONFIG = {
    "epochs": 4,
    "batch_size": 12,
    "max_lr": 0.05,
    "pct_start": 0.3,
    "weight_decay": 1e-4,
}


def train(config):
    torch.manual_seed(4)
    train_ds = TensorDataset(torch.randn(100, 8), torch.randint(0, 2, (100,)))
    loader = DataLoader(train_ds, batch_size=config["batch_size"], shuffle=True, drop_last=True)
    model = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["max_lr"] / 25, weight_decay=config["weight_decay"])
    total_steps = config["epochs"] * len(loader)
    scheduler = OneCycleLR(optimizer, max_lr=config["max_lr"], total_steps=total_steps, pct_start=config["pct_start"])
    for epoch in range(config["epochs"]):
        model.train()
        for xb, yb in loader:
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        print(f"epoch {epoch} loss {loss.item():.3f}")


if __name__ == "__main__":
    train(CONFIG)

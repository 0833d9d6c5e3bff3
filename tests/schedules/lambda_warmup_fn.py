# LambdaLR with a same-file warm-up function (linear warm-up, then halving every 8 steps), stepped per batch.
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EPOCHS = 4
WARMUP_STEPS = 6
DECAY_EVERY = 8


def warmup(step):
    if step < WARMUP_STEPS:
        return (step + 1) / WARMUP_STEPS
    return 0.5 ** ((step - WARMUP_STEPS) // DECAY_EVERY)


def main():
    torch.manual_seed(11)
    features = torch.randn(48, 8)
    labels = torch.randint(0, 4, (48,))
    loader = DataLoader(TensorDataset(features, labels), batch_size=8, shuffle=True)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup)
    for epoch in range(EPOCHS):
        for x, y in loader:
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            scheduler.step()
        print(f"epoch {epoch}: {loss.item():.3f}")


if __name__ == "__main__":
    main()

# ExponentialLR per epoch, with the batch loop cut short by `break` after MAX_BATCHES_PER_EPOCH batches.
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EPOCHS = 3
MAX_BATCHES_PER_EPOCH = 3  # keep the epochs short while debugging

torch.manual_seed(19)
loader = DataLoader(TensorDataset(torch.randn(40, 8), torch.randn(40, 1)), batch_size=4, shuffle=True)
model = nn.Linear(8, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.5)
for epoch in range(EPOCHS):
    for batch_idx, (x, y) in enumerate(loader):
        if batch_idx >= MAX_BATCHES_PER_EPOCH:
            break
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    scheduler.step()

# transformers get_cosine_schedule_with_warmup, positional arguments, per batch (NOT RUNNABLE: needs transformers).
import torch
import transformers
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

epochs = 2
warmup_steps = 4

torch.manual_seed(17)
loader = DataLoader(TensorDataset(torch.randn(60, 8), torch.randn(60, 1)), batch_size=6, shuffle=True)
model = nn.Linear(8, 1)
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
scheduler = transformers.get_cosine_schedule_with_warmup(optimizer, warmup_steps, epochs * len(loader))
for epoch in range(epochs):
    for batch in loader:
        x, y = batch
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()

import torch

from steps import train_step

model = torch.nn.Linear(8, 1)
optimizer = torch.optim.Adam(model.parameters())
scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
for epoch in range(5):
    scheduler.step()
    for batch in torch.load("batches.pt"):
        train_step(model, batch, optimizer)

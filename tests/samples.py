"""Small source texts shared by the CLI tests."""

# A valid script with two findings (OPT101 at line 5, OPT201 at line 9).
BUGGY = '''import torch
from torch import nn

model = nn.Linear(4, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
model.to("cuda")
for epoch in range(3):
    scheduler.step()
    optimizer.zero_grad()
    model(torch.randn(8, 4)).sum().backward()
    optimizer.step()
'''

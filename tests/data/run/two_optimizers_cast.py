"""An encoder and a head, each with its own Adam, trained a few steps in float32; then both are
cast to float64 to fine-tune in double precision. The optimizers keep float32 moments: the next
step fails inside Adam (OPT102, state older than the cast)."""
import torch
import torch.nn as nn

torch.manual_seed(0)
encoder, head = nn.Linear(4, 4), nn.Linear(4, 1)
encoder_optimizer = torch.optim.Adam(encoder.parameters(), lr=1e-3)
head_optimizer = torch.optim.Adam(head.parameters(), lr=1e-3)
for _ in range(3):
    encoder_optimizer.zero_grad()
    head_optimizer.zero_grad()
    head(encoder(torch.randn(8, 4))).pow(2).mean().backward()
    encoder_optimizer.step()
    head_optimizer.step()
encoder.double()
head.double()
x = torch.randn(8, 4, dtype=torch.float64)
encoder_optimizer.zero_grad()
head_optimizer.zero_grad()
head(encoder(x)).pow(2).mean().backward()
encoder_optimizer.step()
head_optimizer.step()

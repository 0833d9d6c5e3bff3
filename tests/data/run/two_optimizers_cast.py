"""An encoder (plain SGD: no state) and a head (Adam), trained a few steps in float32; then both
are cast to float64 to fine-tune in double precision. The encoder's step is fine; the head's Adam
keeps float32 moments and its next step fails inside Adam (OPT102, state older than the cast).
The monitors must compare the second optimizer's state too, not only the first one's."""
import torch
import torch.nn as nn

torch.manual_seed(0)
encoder, head = nn.Linear(4, 4), nn.Linear(4, 1)
encoder_optimizer = torch.optim.SGD(encoder.parameters(), lr=1e-2)
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

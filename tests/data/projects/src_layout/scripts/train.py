import torch

from seqmodel.engine import train_epoch
from seqmodel.model import SeqClassifier

model = SeqClassifier(vocab=30000).cuda()
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
scaler = torch.amp.GradScaler("cuda")
loader = torch.load("loader.pt")
for epoch in range(10):
    train_epoch(model, loader, optimizer, scaler)

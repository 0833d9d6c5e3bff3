# LambdaLR with an inverse-time-decay lambda, stepped per epoch; hyper-parameters in a SimpleNamespace.
from types import SimpleNamespace

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

hparams = SimpleNamespace(epochs=5, lr=0.2, decay=0.5, batch_size=6)


def main():
    torch.manual_seed(10)
    ds = TensorDataset(torch.randn(30, 8), torch.randint(0, 2, (30,)).float())
    train_dl = DataLoader(ds, batch_size=hparams.batch_size, shuffle=True)
    model = nn.Sequential(nn.Linear(8, 1), nn.Flatten(0))
    optimizer = torch.optim.SGD(model.parameters(), lr=hparams.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=lambda epoch: 1.0 / (1.0 + hparams.decay * epoch))
    for epoch in range(hparams.epochs):
        for xb, yb in train_dl:
            loss = nn.functional.binary_cross_entropy_with_logits(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()
        print(epoch, scheduler.get_last_lr())


if __name__ == "__main__":
    main()

# A step-budgeted loop in the style of many fine-tuning scripts: `while global_step < max_steps`
# around the loader, a counter, a warm-up + cosine LambdaLR per step, and a break at the budget

import math

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

MAX_STEPS = 12
WARMUP_STEPS = 3


def lr_lambda(step):
    if step < WARMUP_STEPS:
        return (step + 1) / WARMUP_STEPS
    progress = (step - WARMUP_STEPS) / max(1, MAX_STEPS - WARMUP_STEPS)
    return 0.5 * (1 + math.cos(math.pi * progress))


def main():
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    loader = DataLoader(TensorDataset(torch.randn(20, 4), torch.randn(20, 1)), batch_size=4, shuffle=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
    global_step = 0
    while global_step < MAX_STEPS:
        for features, targets in loader:
            loss = nn.functional.mse_loss(model(features), targets)
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            global_step += 1
            if global_step % 5 == 0:
                print(f"step {global_step}: loss {loss.item():.4f}, lr {scheduler.get_last_lr()[0]:.6f}")
            if global_step >= MAX_STEPS:
                break
    print(f"done after {global_step} steps")


if __name__ == "__main__":
    main()

# transformers get_linear_schedule_with_warmup stepped per batch (NOT RUNNABLE here: transformers is not installed).
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from transformers import get_linear_schedule_with_warmup

NUM_EPOCHS = 3
BATCH_SIZE = 8
LEARNING_RATE = 5e-5
WARMUP_RATIO = 0.1


def main():
    torch.manual_seed(16)
    train_dataset = TensorDataset(torch.randn(80, 8), torch.randint(0, 2, (80,)))
    train_dataloader = DataLoader(train_dataset, batch_size=BATCH_SIZE, shuffle=True)
    model = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    num_training_steps = NUM_EPOCHS * len(train_dataloader)
    scheduler = get_linear_schedule_with_warmup(
        optimizer,
        num_warmup_steps=int(WARMUP_RATIO * num_training_steps),
        num_training_steps=num_training_steps,
    )
    model.train()
    for epoch in range(NUM_EPOCHS):
        for step, (inputs, labels) in enumerate(train_dataloader):
            loss = nn.functional.cross_entropy(model(inputs), labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()


if __name__ == "__main__":
    main()

"""Correct ignite training with its own schedule handlers: ignite's LRScheduler wrapper advances a
torch scheduler by hand (last_epoch += 1, get_lr() under torch's in-step marker), never calling
its step(); a warm-up wrapper, a PiecewiseLinear and a ReduceLROnPlateau handler driven by an
evaluator. Nothing here is a bug: `optimlint run` must observe nothing."""
import torch
import torch.nn as nn
from ignite.engine import Events, create_supervised_evaluator, create_supervised_trainer
from ignite.handlers import LRScheduler, PiecewiseLinear, ReduceLROnPlateauScheduler, create_lr_scheduler_with_warmup
from ignite.metrics import Loss
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
X = torch.randn(256, 8)
y = X[:, :2].sum(1, keepdim=True)
loader = DataLoader(TensorDataset(X, y), batch_size=32)

model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
trainer = create_supervised_trainer(model, optimizer, nn.MSELoss())
trainer.add_event_handler(Events.ITERATION_COMPLETED,
                          LRScheduler(torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.5)))

head = nn.Linear(8, 1)
head_optimizer = torch.optim.Adam(head.parameters(), lr=1e-3)
head_trainer = create_supervised_trainer(head, head_optimizer, nn.MSELoss())
warmup = create_lr_scheduler_with_warmup(torch.optim.lr_scheduler.ExponentialLR(head_optimizer, gamma=0.98),
                                         warmup_start_value=0.0, warmup_duration=5)
head_trainer.add_event_handler(Events.ITERATION_STARTED, warmup)
head_trainer.add_event_handler(Events.ITERATION_STARTED, PiecewiseLinear(head_optimizer, "lr", [(0, 1e-3), (20, 1e-4)]))
evaluator = create_supervised_evaluator(head, metrics={"loss": Loss(nn.MSELoss())})
evaluator.add_event_handler(Events.COMPLETED, ReduceLROnPlateauScheduler(head_optimizer, metric_name="loss",
                                                                         trainer=head_trainer, patience=1))
head_trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda engine: evaluator.run(loader))

trainer.run(loader, max_epochs=3)
head_trainer.run(loader, max_epochs=3)
print(f"lr {optimizer.param_groups[0]['lr']:.4f} / {head_optimizer.param_groups[0]['lr']:.6f}")

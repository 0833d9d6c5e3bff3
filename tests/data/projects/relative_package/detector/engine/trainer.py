"""The epoch loop; the batch step lives in loops.py and the factories in ..solver."""
from ..solver.build import make_lr_scheduler, make_optimizer
from .loops import run_epoch


def do_train(cfg, model, data_loader, device):
    optimizer = make_optimizer(cfg, model)
    scheduler = make_lr_scheduler(cfg, optimizer)
    model.to(device)
    for epoch in range(cfg.max_epoch):
        scheduler.step()
        run_epoch(model, data_loader, optimizer, device)
    return model

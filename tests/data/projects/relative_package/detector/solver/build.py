import torch


def make_optimizer(cfg, model):
    params = []
    for key, value in model.named_parameters():
        if not value.requires_grad:
            continue
        lr = cfg.base_lr * (cfg.bias_lr_factor if "bias" in key else 1.0)
        params.append({"params": [value], "lr": lr})
    return torch.optim.SGD(params, lr=cfg.base_lr, momentum=cfg.momentum)


def make_lr_scheduler(cfg, optimizer):
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, cfg.steps, gamma=cfg.gamma)

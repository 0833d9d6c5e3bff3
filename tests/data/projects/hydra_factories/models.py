from torch import nn


def build_model(cfg):
    return nn.Sequential(nn.Flatten(), nn.Linear(cfg.in_features, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.classes))

import torch

from detector import do_train
from detector.modeling import build_detector

if __name__ == "__main__":
    cfg = torch.load("config.pt")
    model = build_detector(cfg)
    do_train(cfg, model, cfg.loader, torch.device("cuda"))

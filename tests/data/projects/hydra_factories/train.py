"""Hydra-style training entry: optimizer and scheduler classes come from the config."""
import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from models import build_model


@hydra.main(config_path="conf", config_name="train", version_base=None)
def main(cfg: DictConfig) -> None:
    model = build_model(cfg.model)
    optimizer = instantiate(cfg.optimizer, params=model.parameters())
    scheduler = instantiate(cfg.lr_scheduler, optimizer=optimizer)
    model.cuda()
    loader = instantiate(cfg.data.train_loader)
    for epoch in range(cfg.trainer.max_epochs):
        scheduler.step()
        for images, targets in loader:
            images, targets = images.cuda(), targets.cuda()
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(images), targets)
            loss.backward()
            optimizer.step()


if __name__ == "__main__":
    main()

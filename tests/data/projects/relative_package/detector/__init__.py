from .engine.trainer import do_train

__all__ = ["do_train"]

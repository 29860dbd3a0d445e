r"""Training and all-rank evaluation (plain PyTorch, Hydra-free)."""
from rlmrec_pyg.train.allocator import retain_freed_memory
from rlmrec_pyg.train.evaluate import evaluate, rank_metrics
from rlmrec_pyg.train.loop import train_epoch, train_step
from rlmrec_pyg.io import torch_save as save_atomic
from rlmrec_pyg.train.checkpoint import load_checkpoint, save_checkpoint
from rlmrec_pyg.train.trainer import Trainer

__all__ = [
    'evaluate', 'rank_metrics', 'train_step', 'train_epoch', 'Trainer',
    'save_atomic', 'save_checkpoint', 'load_checkpoint', 'retain_freed_memory'
]

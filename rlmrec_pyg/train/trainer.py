r"""Early-stopping trainer of RLMRec's official loop (``trainer.py``, spec
§3.2-3.3): validate every few epochs, keep the best Recall@20 checkpoint,
report its test metrics; resumable from an atomically written checkpoint."""
import copy
import logging
import os.path as osp
import sys
import time
from typing import Any, Dict, Iterable, Optional

import torch
from torch.nn import Module
from torch.optim import Optimizer
from torch_geometric.data import HeteroData
from tqdm import tqdm

from rlmrec_pyg.data import BPRSampler
from rlmrec_pyg.data.graph import check_semantic
from rlmrec_pyg.train.checkpoint import load_checkpoint, save_checkpoint
from rlmrec_pyg.train.evaluate import _check_ks, evaluate
from rlmrec_pyg.train.loop import REG_MODES, train_epoch
from rlmrec_pyg.typing import EDGE

log = logging.getLogger(__name__)


class Trainer:
    r"""Trains an encoder and its ID embeddings with BPR as the official
    RLMRec trainer: every :obj:`eval_every` epochs (starting at epoch 0) the
    validation metrics are computed; when validation
    :obj:`recall@{max(ks)}` is **strictly** better, the state is kept (and
    written to :obj:`checkpoint_path`), otherwise a counter grows; training
    stops when it reaches :obj:`patience`. The result holds the validation
    and **test metrics of the best-validation checkpoint**.

    The checkpoint stores model, embedding and optimizer state, the epoch,
    the early-stopping state and every RNG state (global torch and the
    sampling generator), tensors and plain containers only
    (:mod:`rlmrec_pyg.train.checkpoint`); :meth:`fit` with
    :obj:`resume=True` continues from it exactly as the uninterrupted run
    would have from that epoch. A non-finite training loss stops training
    with a :class:`FloatingPointError` (a diverged model is never saved or
    evaluated), and non-finite :obj:`sem_emb` is refused before the first
    step.

    .. code-block:: python

        trainer = Trainer(lambda_reg=1e-6, checkpoint_path='best.pt')
        result = trainer.fit(model, embedding, data, optimizer)
        result['test']['recall@20']

    Args:
        max_epochs (int, optional): Epoch limit. (default: :obj:`3000`)
        batch_size (int, optional): Triples per step. (default: :obj:`4096`)
        lambda_reg (float, optional): L2 weight. (default: :obj:`1e-6`)
        reg (str, optional): :obj:`"all"` parameters (official) or
            :obj:`"batch"` rows. (default: :obj:`"all"`)
        alignment_weight (float, optional): Weight of the model's
            :meth:`alignment_loss`. (default: :obj:`0.0`)
        eval_every (int, optional): Validation period in epochs.
            (default: :obj:`3`)
        patience (int, optional): Non-improving evaluations before stopping.
            (default: :obj:`5`)
        ks (Iterable[int], optional): Cut-offs; the largest selects.
            (default: :obj:`(5, 10, 20)`)
        eval_batch_size (int, optional): Users per score matrix.
            (default: :obj:`1024`)
        mask_val (bool, optional): Mask validation items at test time.
            (default: :obj:`False`)
        checkpoint_path (str, optional): Where the best state is written.
            (default: :obj:`None`)
        seed (int, optional): Seed of the sampling generator.
            (default: :obj:`2023`)
        progress_bar (bool, optional): Show :obj:`tqdm` bars; :obj:`None`
            shows them on a TTY. (default: :obj:`None`)
        max_time (float, optional): Wall-clock budget in seconds: training
            stops at the first validation after it is spent (the result
            says :obj:`stopped_by="max_time"`; such a run has not converged
            by the official criterion). (default: :obj:`None`)
    """
    def __init__(self, max_epochs: int = 3000, batch_size: int = 4096,
                 lambda_reg: float = 1e-6, reg: str = 'all',
                 alignment_weight: float = 0.0, eval_every: int = 3,
                 patience: int = 5, ks: Iterable[int] = (5, 10, 20),
                 eval_batch_size: int = 1024, mask_val: bool = False,
                 checkpoint_path: Optional[str] = None, seed: int = 2023,
                 progress_bar: Optional[bool] = None,
                 max_time: Optional[float] = None) -> None:
        name = self.__class__.__name__
        if max_time is not None and not max_time > 0:
            raise ValueError(f"'max_time' must be positive seconds or None in "
                             f"'{name}' (got {max_time})")
        self.max_time = max_time
        for key, value in (('max_epochs', max_epochs),
                           ('batch_size', batch_size),
                           ('eval_every', eval_every), ('patience', patience),
                           ('eval_batch_size', eval_batch_size)):
            if value <= 0:
                raise ValueError(f"'{key}' must be positive in '{name}' (got "
                                 f"{value})")
        if reg not in REG_MODES:
            raise ValueError(f"Unknown 'reg' '{reg}' in '{name}' (choose from "
                             f"{list(REG_MODES)})")
        self.max_epochs, self.batch_size = max_epochs, batch_size
        self.lambda_reg, self.reg = lambda_reg, reg
        self.alignment_weight = alignment_weight
        self.eval_every, self.patience = eval_every, patience
        self.ks = _check_ks(ks)
        self.eval_batch_size, self.mask_val = eval_batch_size, mask_val
        self.checkpoint_path, self.seed = checkpoint_path, seed
        self.progress_bar = (sys.stderr.isatty()
                             if progress_bar is None else progress_bar)

    def _evaluate(self, model: Module, embedding: Module, data: HeteroData,
                  split: str) -> Dict[str, float]:
        return evaluate(model, embedding, data, split, self.ks,
                        self.eval_batch_size, self.mask_val)

    @staticmethod
    def check_sizes(embedding: Module, data: HeteroData) -> None:
        r"""Raises a :class:`ValueError` when the embedding tables and the
        graph disagree on a node count."""
        sizes = getattr(embedding, 'num_nodes_dict', None)
        if sizes is None:
            return
        for node_type in data.node_types:
            if sizes.get(node_type) != data[node_type].num_nodes:
                raise ValueError(
                    f"The embedding has {sizes.get(node_type)} rows for node "
                    f"type '{node_type}' but the graph has "
                    f"{data[node_type].num_nodes} nodes")

    def fit(self, model: Module, embedding: Module, data: HeteroData,
            optimizer: Optimizer, resume: bool = False) -> Dict[str, Any]:
        r"""Trains until early stopping and returns :obj:`{'val': {...},
        'test': {...}, 'best_epoch': e, 'last_epoch': e, 'seconds': s,
        'stopped_by': 'patience' | 'max_epochs' | 'max_time'}`.

        Args:
            model (torch.nn.Module): The encoder (possibly wrapped).
            embedding (torch.nn.Module): Returns :obj:`x_dict` when called.
            data (torch_geometric.data.HeteroData): The graph.
            optimizer (torch.optim.Optimizer): Over model and embedding.
            resume (bool, optional): Continue from :obj:`checkpoint_path`
                when it exists. (default: :obj:`False`)
        """
        self.check_sizes(embedding, data)
        check_semantic(data, 'data')
        key = f'recall@{max(self.ks)}'
        gen = torch.Generator().manual_seed(self.seed)
        sampler = BPRSampler(data[EDGE].edge_index, data['item'].num_nodes)
        state: Dict[str, Any] = dict(epoch=-1, best_epoch=-1,
                                     best=float('-inf'), counter=0)
        best_weights = None
        path = self.checkpoint_path
        if resume and path is not None and osp.exists(path):
            ckpt = load_checkpoint(path, what="checkpoint to resume from")
            model.load_state_dict(ckpt['model'])
            embedding.load_state_dict(ckpt['embedding'])
            optimizer.load_state_dict(ckpt['optimizer'])
            torch.set_rng_state(ckpt['torch_rng'])
            gen.set_state(ckpt['generator'])
            state = ckpt['state']
            best_weights = (ckpt['model'], ckpt['embedding'])
            log.info(f"Resumed from '{path}' at epoch {state['epoch']}")
        t0 = time.perf_counter()
        stopped_by = 'max_epochs'
        epochs = range(state['epoch'] + 1, self.max_epochs)
        bar = tqdm(epochs, disable=not self.progress_bar)
        for epoch in bar:
            try:
                stats = train_epoch(model, embedding, data, optimizer,
                                    sampler, self.batch_size,
                                    self.lambda_reg, self.reg,
                                    self.alignment_weight, gen)
            except FloatingPointError as e:
                raise FloatingPointError(
                    f"Epoch {epoch}: {e}. Training stopped; the best "
                    f"checkpoint so far (if any) is unchanged and no "
                    f"metrics were written") from None
            state['epoch'] = epoch
            if epoch % self.eval_every != 0:
                continue
            val = self._evaluate(model, embedding, data, 'val')
            improved = val[key] > state['best']
            if improved:
                state.update(best=val[key], best_epoch=epoch, counter=0)
                best_weights = (copy.deepcopy(model.state_dict()),
                                copy.deepcopy(embedding.state_dict()))
                if path is not None:
                    save_checkpoint(path, model=best_weights[0],
                                    embedding=best_weights[1],
                                    optimizer=optimizer.state_dict(),
                                    torch_rng=torch.get_rng_state(),
                                    generator=gen.get_state(),
                                    state=dict(state))
            else:
                state['counter'] += 1
            log.info(f"Epoch {epoch:4d} loss {stats['loss']:.4f} val "
                     f"{key} {val[key]:.4f} ndcg@{max(self.ks)} "
                     f"{val[f'ndcg@{max(self.ks)}']:.4f} "
                     f"({time.perf_counter() - t0:.0f}s)"
                     f"{' *' if improved else ''}")
            bar.set_postfix(loss=stats['loss'], **{key: val[key]})
            if state['counter'] >= self.patience:
                stopped_by = 'patience'
                break
            if (self.max_time is not None
                    and time.perf_counter() - t0 > self.max_time):
                stopped_by = 'max_time'
                log.info(f'Stopping: max_time {self.max_time}s spent')
                break
        seconds = time.perf_counter() - t0
        if best_weights is not None:
            model.load_state_dict(best_weights[0])
            embedding.load_state_dict(best_weights[1])
        val = self._evaluate(model, embedding, data, 'val')
        test = self._evaluate(model, embedding, data, 'test')
        log.info(f"Best epoch {state['best_epoch']}, test {test}")
        return dict(val=val, test=test, best_epoch=state['best_epoch'],
                    last_epoch=state['epoch'], seconds=seconds,
                    stopped_by=stopped_by)

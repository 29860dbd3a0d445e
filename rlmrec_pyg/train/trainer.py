r"""Early-stopping trainer of RLMRec's official loop (``trainer.py``):
validate every few epochs, keep the best Recall@20 checkpoint, report its
test metrics; resumable from an atomically written checkpoint."""
import copy
import logging
import os.path as osp
import sys
import time
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.optim import Optimizer
from torch_geometric.data import HeteroData
from tqdm import tqdm

from rlmrec_pyg.data import BPRSampler
from rlmrec_pyg.data.graph import check_semantic
from rlmrec_pyg.nn import Recommender
from rlmrec_pyg.nn.recommender import REG_MODES
from rlmrec_pyg.train import distributed as dist
from rlmrec_pyg.train.checkpoint import (load_checkpoint, rng_states,
                                         save_checkpoint, set_rng_states)
from rlmrec_pyg.train.evaluate import _check_ks, evaluate
from rlmrec_pyg.train.history import CSVHistory
from rlmrec_pyg.train.tracking import CSVTracker, numeric
from rlmrec_pyg.train.loop import loss_weights as loss_weights_of
from rlmrec_pyg.train.loop import LossTermsModule, train_epoch
from rlmrec_pyg.train.sampled import (PROTOCOL, check_num_neighbors,
                                      train_epoch_sampled)
from rlmrec_pyg.typing import EDGE

log = logging.getLogger(__name__)


class Trainer:
    r"""Trains a :class:`~rlmrec_pyg.nn.Recommender` as the official RLMRec
    trainer: every epoch draws one BPR triple per training interaction and
    steps through them in batches, minimising the model's loss terms
    weighed by :obj:`loss_weights`; every :obj:`eval_every` epochs
    (starting at epoch 0) the validation metrics are computed; when
    validation :obj:`recall@{max(ks)}` is **strictly** better, the state is
    kept (and written to :obj:`checkpoint_path`), otherwise a counter grows;
    training stops when it reaches :obj:`patience`. The result holds the
    validation and **test metrics of the best-validation checkpoint**.

    The loss weights have one home, here: :obj:`loss_weights` maps every
    term the model returns (see :class:`~rlmrec_pyg.nn.Objective`) to its
    weight, over the defaults :obj:`{"rec": 1, "reg": 1e-6}` (the official
    L2 weight); a term without a weight stops the first step with an error
    naming it. The mean of every term is logged per epoch (log, progress
    bar and :obj:`history_path`).

    The checkpoint stores model, embedding and optimizer state, the epoch,
    the early-stopping state and every RNG state (the global CPU one, the
    GPU's when training on CUDA, and the sampling generator), tensors and
    plain containers only (:mod:`rlmrec_pyg.train.checkpoint`); :meth:`fit`
    with :obj:`resume=True` continues from it exactly as the uninterrupted
    run would have from that epoch. A non-finite training loss stops training
    with a :class:`FloatingPointError` (a diverged model is never saved or
    evaluated), and non-finite :obj:`sem_emb` is refused before the first
    step.

    In a :mod:`torch.distributed` group (*e.g.*, under ``torchrun``, see
    :mod:`rlmrec_pyg.train.distributed`) the same call trains data-parallel:
    the model is wrapped in
    :class:`~torch.nn.parallel.DistributedDataParallel`, every process
    takes its share of every batch (:func:`~rlmrec_pyg.train.loop.
    train_epoch`) and of the users to evaluate (the metric sums are
    reduced, so every process takes the same early-stopping decision);
    only rank 0 writes the checkpoint and the history, and every process
    reads the checkpoint to resume.

    .. code-block:: python

        trainer = Trainer(loss_weights={'align': 1e-2},
                          checkpoint_path='best.pt')
        result = trainer.fit(model, data, optimizer)
        result['test']['recall@20']

    Args:
        max_epochs (int, optional): Epoch limit; :obj:`0` evaluates the
            model as it is (a checkpoint, or a model with nothing to train
            such as :class:`~rlmrec_pyg.nn.SemanticRanker`).
            (default: :obj:`3000`)
        batch_size (int, optional): Triples per step. (default: :obj:`4096`)
        loss_weights (Dict[str, float], optional): Weight of every loss term
            (:obj:`"reg"`: the L2 weight; :obj:`"ssl"`, :obj:`"align"`,
            ...). (default: :obj:`None`: the defaults only)
        reg (str, optional): :obj:`"all"` parameters (official) or
            :obj:`"batch"` rows in the :obj:`"reg"` term.
            (default: :obj:`"all"`)
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
        history_path (str, optional): A CSV file that gets one row per
            epoch (:class:`~rlmrec_pyg.train.history.CSVHistory`).
            (default: :obj:`None`)
        seed (int, optional): Seed of the sampling generator.
            (default: :obj:`2023`)
        progress_bar (bool, optional): Show :obj:`tqdm` bars; :obj:`None`
            shows them on a TTY. (default: :obj:`None`)
        max_time (float, optional): Wall-clock budget in seconds: training
            stops at the first validation after it is spent (the result
            says :obj:`stopped_by="max_time"`; such a run has not converged
            by the official criterion). (default: :obj:`None`)
        find_unused_parameters (bool, optional): Data-parallel only: let
            :class:`~torch.nn.parallel.DistributedDataParallel` look for
            parameters a step leaves unused (a model whose terms differ
            between steps). (default: :obj:`False`)
        num_neighbors (List[int], optional): Train on sampled subgraphs
            with these fan-outs per layer
            (:func:`~rlmrec_pyg.train.sampled.train_epoch_sampled`; not
            the paper's protocol: the result says so in
            :obj:`"protocol"`); :obj:`None` trains on the whole graph.
            (default: :obj:`None`)
    """
    def __init__(self, max_epochs: int = 3000, batch_size: int = 4096,
                 loss_weights: Optional[Mapping[str, float]] = None,
                 reg: str = 'all', eval_every: int = 3, patience: int = 5,
                 ks: Iterable[int] = (5, 10, 20), eval_batch_size: int = 1024,
                 mask_val: bool = False,
                 checkpoint_path: Optional[str] = None,
                 history_path: Optional[str] = None, seed: int = 2023,
                 progress_bar: Optional[bool] = None,
                 max_time: Optional[float] = None,
                 find_unused_parameters: bool = False,
                 num_neighbors: Optional[Sequence[int]] = None) -> None:
        name = self.__class__.__name__
        if max_time is not None and not max_time > 0:
            raise ValueError(f"'max_time' must be positive seconds or None in "
                             f"'{name}' (got {max_time})")
        self.max_time = max_time
        self.find_unused_parameters = bool(find_unused_parameters)
        self.num_neighbors = (None if num_neighbors is None else
                              check_num_neighbors(num_neighbors))
        if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) \
                or max_epochs < 0:
            raise ValueError(f"'max_epochs' must be an integer >= 0 in "
                             f"'{name}' (got {max_epochs!r})")
        for key, value in (('batch_size', batch_size),
                           ('eval_every', eval_every), ('patience', patience),
                           ('eval_batch_size', eval_batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) \
                    or value <= 0:
                raise ValueError(f"'{key}' must be positive in '{name}' (got "
                                 f"{value!r})")
        if reg not in REG_MODES:
            raise ValueError(f"Unknown 'reg' '{reg}' in '{name}' (choose from "
                             f"{list(REG_MODES)})")
        self.max_epochs, self.batch_size = max_epochs, batch_size
        self.loss_weights = loss_weights_of(loss_weights)
        self.reg = reg
        self.eval_every, self.patience = eval_every, patience
        self.ks = _check_ks(ks)
        self.eval_batch_size, self.mask_val = eval_batch_size, mask_val
        self.checkpoint_path, self.history_path = checkpoint_path, history_path
        self.seed = seed
        self.progress_bar = (sys.stderr.isatty()
                             if progress_bar is None else progress_bar)

    def _evaluate(self, model: Recommender, data: HeteroData,
                  split: str) -> Dict[str, float]:
        return evaluate(model, data, split, self.ks, self.eval_batch_size,
                        self.mask_val, distributed=True)

    def fit(self, model: Recommender, data: HeteroData, optimizer: Optimizer,
            resume: bool = False,
            tracker: Optional[CSVTracker] = None) -> Dict[str, Any]:
        r"""Trains until early stopping and returns :obj:`{'val': {...},
        'test': {...}, 'best_epoch': e, 'last_epoch': e, 'seconds': s,
        'stopped_by': 'patience' | 'max_epochs' | 'max_time'}`.

        Args:
            model (rlmrec_pyg.nn.Recommender): ID embeddings and encoder.
            data (torch_geometric.data.HeteroData): The graph.
            optimizer (torch.optim.Optimizer): Over
                :obj:`model.parameters()`.
            resume (bool, optional): Continue from :obj:`checkpoint_path`
                when it exists. (default: :obj:`False`)
            tracker (CSVTracker, optional): Gets every epoch's values
                (:mod:`rlmrec_pyg.train.tracking`). (default: :obj:`None`)
        """
        if not isinstance(model, Recommender):
            raise TypeError(f"'model' must be a 'Recommender' (ID embeddings "
                            f"and an encoder) in 'Trainer.fit' (got "
                            f"{type(model).__name__}); wrap your encoder: "
                            f"Recommender(encoder, data, embedding_dim)")
        model.check_sizes(data)
        check_semantic(data, 'data')
        key = f'recall@{max(self.ks)}'
        gen = torch.Generator().manual_seed(self.seed)
        device = next(model.embedding.parameters()).device
        sampler = BPRSampler(data[EDGE].edge_index, data['item'].num_nodes)
        state: Dict[str, Any] = dict(epoch=-1, best_epoch=-1,
                                     best=float('-inf'), counter=0)
        best_weights = None
        resumed_after: Optional[int] = None  # the epoch of the checkpoint
        path = self.checkpoint_path
        if resume and path is not None and osp.exists(path):
            ckpt = load_checkpoint(path, what="checkpoint to resume from")
            model.encoder.load_state_dict(ckpt['model'])
            model.embedding.load_state_dict(ckpt['embedding'])
            optimizer.load_state_dict(ckpt['optimizer'])
            set_rng_states(ckpt, device, path)
            gen.set_state(ckpt['generator'])
            state = ckpt['state']
            best_weights = (ckpt['model'], ckpt['embedding'])
            resumed_after = int(state['epoch'])
            log.info(f"Resumed from '{path}' at epoch {state['epoch']}")
        main = dist.is_main_process()
        first = dist.broadcast_object(state['epoch'])
        if first != state['epoch']:
            raise RuntimeError(
                f"Process {dist.rank()} starts after epoch {state['epoch']} "
                f"but rank 0 after epoch {first}: every process must see "
                f"the same 'checkpoint_path' ({path!r} here) to resume")
        history = (CSVHistory(self.history_path, resumed_after)
                   if self.history_path is not None and main else None)
        ddp = None
        if dist.is_distributed():
            ddp = DistributedDataParallel(
                LossTermsModule(model),
                find_unused_parameters=self.find_unused_parameters)
        t0 = time.perf_counter()
        stopped_by = 'max_epochs'
        epochs = range(state['epoch'] + 1, self.max_epochs)
        bar = tqdm(epochs, disable=not (self.progress_bar and main))
        try:
            for epoch in bar:
                try:
                    stats = self._train_epoch(model, data, optimizer,
                                              sampler, gen, ddp)
                except FloatingPointError as e:
                    raise FloatingPointError(
                        f"Epoch {epoch}: {e}. Training stopped; the best "
                        f"checkpoint so far (if any) is unchanged and no "
                        f"metrics were written") from None
                state['epoch'] = epoch
                row: Dict[str, Any] = dict(epoch=epoch, **stats)
                terms = ' '.join(f'{k} {v:.4g}' for k, v in stats.items()
                                 if k != 'loss')
                if epoch % self.eval_every != 0:
                    self._record(history, tracker, bar, row, None, False, t0)
                    continue
                val = self._evaluate(model, data, 'val')
                improved = val[key] > state['best']
                if improved:
                    state.update(best=val[key], best_epoch=epoch, counter=0)
                    best_weights = (
                        copy.deepcopy(model.encoder.state_dict()),
                        copy.deepcopy(model.embedding.state_dict()))
                    if path is not None and main:
                        save_checkpoint(path, model=best_weights[0],
                                        embedding=best_weights[1],
                                        optimizer=optimizer.state_dict(),
                                        generator=gen.get_state(),
                                        state=dict(state),
                                        **rng_states(device))
                else:
                    state['counter'] += 1
                ndcg = f'ndcg@{max(self.ks)}'
                log.info(f"Epoch {epoch:4d} loss {stats['loss']:.4f} "
                         f"({terms}) val {key} {val[key]:.4f} {ndcg} "
                         f"{val[ndcg]:.4f} ({time.perf_counter() - t0:.0f}s)"
                         f"{' *' if improved else ''}")
                self._record(history, tracker, bar, row, {
                    f'val/{key}': val[key],
                    f'val/{ndcg}': val[ndcg]
                }, improved, t0)
                if state['counter'] >= self.patience:
                    stopped_by = 'patience'
                    break
                if self._out_of_time(t0):
                    stopped_by = 'max_time'
                    log.info(f'Stopping: max_time {self.max_time}s spent')
                    break
        finally:
            if history is not None:
                history.close()
        seconds = time.perf_counter() - t0
        if self.max_epochs == 0 and path is not None and main:
            # Nothing trained: the model as it is, for rlmrec-recommend.
            save_checkpoint(path, model=model.encoder.state_dict(),
                            embedding=model.embedding.state_dict(),
                            optimizer=optimizer.state_dict(),
                            generator=gen.get_state(), state=dict(state),
                            **rng_states(device))
        if best_weights is not None:
            model.encoder.load_state_dict(best_weights[0])
            model.embedding.load_state_dict(best_weights[1])
        val = self._evaluate(model, data, 'val')
        test = self._evaluate(model, data, 'test')
        log.info(f"Best epoch {state['best_epoch']}, test {test}")
        result = dict(val=val, test=test, best_epoch=state['best_epoch'],
                      last_epoch=state['epoch'], seconds=seconds,
                      stopped_by=stopped_by)
        if self.num_neighbors is not None:
            result['protocol'] = (f'{PROTOCOL}, num_neighbors='
                                  f'{self.num_neighbors}')
        return result

    def _train_epoch(self, model: Recommender, data: HeteroData,
                     optimizer: Optimizer, sampler: BPRSampler,
                     gen: torch.Generator,
                     ddp: Optional[DistributedDataParallel]
                     ) -> Dict[str, float]:
        if self.num_neighbors is None:
            return train_epoch(model, data, optimizer, sampler,
                               self.batch_size, self.loss_weights, self.reg,
                               gen, ddp_module=ddp)
        return train_epoch_sampled(model, data, optimizer,
                                   self.num_neighbors, self.batch_size,
                                   self.loss_weights, self.reg, gen,
                                   ddp_module=ddp)

    def _out_of_time(self, t0: float) -> bool:
        # Rank 0's clock decides for every process.
        if self.max_time is None:
            return False
        spent = time.perf_counter() - t0 > self.max_time
        return bool(dist.broadcast_object(spent))

    def _record(self, history: Optional[CSVHistory],
                tracker: Optional[CSVTracker], bar: Any,
                row: Dict[str, Any], val: Optional[Dict[str, float]],
                improved: bool, t0: float) -> None:
        # One history row per epoch (validation columns empty when the
        # epoch was not validated); the progress bar shows the same.
        row = dict(row)
        key = f'recall@{max(self.ks)}'
        for name in (f'val/{key}', f'val/ndcg@{max(self.ks)}'):
            row[name] = '' if val is None else val[name]
        row['seconds'] = round(time.perf_counter() - t0, 3)
        row['improved'] = int(improved)
        if history is not None:
            history.write(row)
        if tracker is not None:
            tracker.log_epoch(row['epoch'], numeric(
                {k: v for k, v in row.items() if k not in ('epoch',
                                                           'improved')}))
        bar.set_postfix({k: v for k, v in row.items()
                         if k not in ('epoch', 'seconds') and v != ''})

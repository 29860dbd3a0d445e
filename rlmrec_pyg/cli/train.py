r"""The ``rlmrec-train`` command (``python -m rlmrec_pyg.cli.train``):
``rlmrec-train dataset=amazon model=lightgcn [alignment=contrastive]``, or a
sweep with :obj:`-m`. :func:`run` builds and trains one run from a composed
config."""
import functools
import logging
import os.path as osp
import shutil
from typing import Any, Dict, Optional

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from torch_geometric import seed_everything
from torch_geometric.data import HeteroData

from rlmrec_pyg.cli import CONFIG_DIR, entry_point
from rlmrec_pyg.cli.studies import (check_study_options, prepare_data,
                                    pretrain_then_finetune)
from rlmrec_pyg.io import json_save
from rlmrec_pyg.nn import NodeEmbedding, Recommender
from rlmrec_pyg.recommend.cold_start import cold_start_metrics
from rlmrec_pyg.train import distributed as dist
from rlmrec_pyg.train import retain_freed_memory
from rlmrec_pyg.train.checkpoint import load_checkpoint, load_pretrained
from rlmrec_pyg.train.trainer import Trainer
from rlmrec_pyg.train.tracking import CSVTracker, numeric, public_params
from rlmrec_pyg.typing import SEM_EMB

log = logging.getLogger(__name__)


def _device(name: str) -> torch.device:
    if name == 'auto':
        name = 'cuda' if torch.cuda.is_available() else 'cpu'
    # Under torchrun a CUDA process takes the GPU of its LOCAL_RANK.
    return torch.device(dist.local_device(name))


def build_encoder(cfg: DictConfig, data: HeteroData) -> torch.nn.Module:
    r"""Instantiates :obj:`cfg.model` (a config with :obj:`_partial_: true`
    gets the graph's :obj:`metadata`, *e.g.*, a ``to_hetero`` GNN), wrapped
    by :obj:`cfg.alignment.module` when an alignment is chosen (its sizes
    are inferred when the :class:`~rlmrec_pyg.nn.Recommender` is built)."""
    encoder = instantiate(cfg.model)
    if isinstance(encoder, functools.partial):
        encoder = encoder(metadata=data.metadata())
    if not cfg.get('alignment'):
        return encoder
    return instantiate(cfg.alignment.module)(encoder)


def trainer_kwargs(cfg: DictConfig) -> Dict[str, Any]:
    r"""The :class:`~rlmrec_pyg.train.Trainer` arguments of a run config:
    :obj:`cfg.trainer`, the run folder's :obj:`best.pt` and
    :obj:`history.csv`, and the seed."""
    kwargs = dict(OmegaConf.to_container(cfg.trainer, resolve=True))
    return dict(kwargs, seed=cfg.seed,
                checkpoint_path=osp.join(cfg.output_dir, 'best.pt'),
                history_path=osp.join(cfg.output_dir, 'history.csv'))


def check_run_config(cfg: DictConfig) -> Trainer:
    r"""Checks every argument of a run before any data, profile or vector
    work and returns its :class:`~rlmrec_pyg.train.Trainer`: the study
    options (:func:`~rlmrec_pyg.cli.studies.check_study_options`), the
    trainer's arguments (loss weights included), the encoder's and the
    optimizer's (built once on a placeholder and dropped), the device, and
    the :obj:`init_from` checkpoint (read safely). One clear error, nothing
    written."""
    check_study_options(cfg)
    trainer = Trainer(**trainer_kwargs(cfg))
    _device(cfg.device)
    instantiate(cfg.model)
    if cfg.get('alignment'):
        instantiate(cfg.alignment.module)
    instantiate(cfg.optimizer)([torch.nn.Parameter(torch.zeros(1))])
    if cfg.get('init_from'):
        load_checkpoint(cfg.init_from, required=('embedding', ),
                        what="'init_from' checkpoint")
    return trainer


def run(cfg: DictConfig) -> Dict[str, Any]:
    r"""Builds data, a :class:`~rlmrec_pyg.nn.Recommender` (ID embeddings
    and the encoder, wrapped by :obj:`cfg.alignment.module` when set),
    optimizer and :class:`~rlmrec_pyg.train.Trainer` from :obj:`cfg`,
    trains, writes :obj:`metrics.json`, :obj:`best.pt` and
    :obj:`history.csv` into :obj:`cfg.output_dir` and returns the flat
    metrics (:obj:`"val/recall@20"`, :obj:`"test/ndcg@20"`, ...,
    :obj:`"best_epoch"`).

    Under ``torchrun`` (several processes) the run trains data-parallel
    (:class:`~rlmrec_pyg.train.Trainer`): the process group is started
    here (gloo on CPU, NCCL on CUDA), every process uses rank 0's run
    folder, and only rank 0 writes into it and logs below warnings."""
    if cfg.get('pretrain') and cfg.pretrain.enabled:
        check_study_options(cfg)
        return pretrain_then_finetune(cfg, run)
    trainer = check_run_config(cfg)
    if cfg.get('retain_freed_memory'):
        retain_freed_memory()
    started = dist.init_from_env(str(_device(cfg.device)))
    own_dir = cfg.output_dir
    try:
        if dist.is_distributed():
            with open_dict(cfg):
                cfg.output_dir = dist.broadcast_object(cfg.output_dir)
            trainer = Trainer(**trainer_kwargs(cfg))  # rank 0's files
            if not dist.is_main_process():
                logging.getLogger().setLevel(logging.WARNING)
        return _train(cfg, trainer)
    finally:
        if started:
            dist.destroy()
            if own_dir != cfg.output_dir:  # a rank > 0's own Hydra files
                shutil.rmtree(own_dir, ignore_errors=True)


def to_device(data: HeteroData, device: torch.device) -> HeteroData:
    r"""Moves :obj:`data` to :obj:`device`, except half-precision
    :obj:`sem_emb` (a memory-mapped :class:`~rlmrec_pyg.semantic.
    VectorStore`, or vectors kept small on purpose): it stays on the host
    and each step moves only the rows it uses."""
    host = {nt: data[nt][SEM_EMB] for nt in data.node_types
            if data[nt].get(SEM_EMB) is not None
            and data[nt][SEM_EMB].dtype == torch.float16}
    for nt in host:
        del data[nt][SEM_EMB]
    data = data.to(device)
    for nt, sem in host.items():
        data[nt][SEM_EMB] = sem
    return data


def build_model(cfg: DictConfig, data: HeteroData,
                device: torch.device) -> Recommender:
    r"""The :class:`~rlmrec_pyg.nn.Recommender` of a run config on
    :obj:`data` (already on :obj:`device`): ID embeddings, then the encoder
    (the official order of the random initialisations)."""
    sizes = {nt: int(data[nt].num_nodes) for nt in data.node_types}
    embedding = NodeEmbedding(sizes, int(cfg.model.embedding_dim))
    encoder = build_encoder(cfg, data).to(device)
    model = Recommender(encoder, data, embedding=embedding.to(device))
    return model.to(device)


def build_tracker(cfg: DictConfig) -> Optional[CSVTracker]:
    r"""The tracker of :obj:`cfg.tracking` (none without one), given the
    composed config (resolved, flattened, secrets redacted:
    :func:`~rlmrec_pyg.train.tracking.public_params`)."""
    if not cfg.get('tracking'):
        return None
    tracker = instantiate(cfg.tracking)
    try:
        config = OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # an interpolation only Hydra's job can resolve
        config = OmegaConf.to_container(cfg, resolve=False)
    tracker.log_params(public_params(config))
    return tracker


def _train(cfg: DictConfig, trainer: Trainer) -> Dict[str, Any]:
    seed_everything(cfg.seed)
    # Data-parallel: rank 0 downloads, processes and encodes first (the
    # files are shared); the others then read what it wrote.
    first = dist.is_main_process()
    if not first:
        dist.barrier()
    dataset = instantiate(cfg.dataset)
    data = dataset if isinstance(dataset, HeteroData) else dataset[0]
    data = prepare_data(data, cfg, align=bool(cfg.get('alignment')))
    if first:
        dist.barrier()
    device = _device(cfg.device)
    data = to_device(data, device)
    model = build_model(cfg, data, device)
    if cfg.get('init_from'):
        load_pretrained(cfg.init_from, model.embedding, model.encoder)
    optimizer = instantiate(cfg.optimizer)(model.parameters())
    tracker = None
    try:
        if dist.is_main_process():
            tracker = build_tracker(cfg)
        result = trainer.fit(model, data, optimizer,
                             resume=bool(cfg.resume), tracker=tracker)
        if 'cold_test_index' in data:  # cold_items: the held-out items
            result.update(cold_start_metrics(model, data, trainer.ks))
        if dist.is_main_process():
            json_save(result, osp.join(cfg.output_dir, 'metrics.json'))
        flat: Dict[str, Any] = {
            f'{split}/{key}': value
            for split, metrics in result.items()
            if isinstance(metrics, dict)
            for key, value in metrics.items()
        }
        flat.update(best_epoch=result['best_epoch'],
                    last_epoch=result['last_epoch'],
                    seconds=result['seconds'],
                    stopped_by=result['stopped_by'])
        if 'protocol' in result:  # sampled training: not the paper's
            flat['protocol'] = result['protocol']
        if tracker is not None:
            tracker.log_result(numeric(flat))
    finally:
        if tracker is not None:
            tracker.close()
    log.info(f'Result: {flat}')
    return flat


@hydra.main(version_base='1.3', config_path=CONFIG_DIR,
            config_name='train')
def _main(cfg: DictConfig) -> float:
    return run(cfg)['val/recall@20']


def main() -> None:
    r"""The ``rlmrec-train`` command (see :func:`rlmrec_pyg.cli.
    entry_point`)."""
    entry_point(_main)


if __name__ == '__main__':
    main()

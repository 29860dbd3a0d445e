r"""The Hydra entry point: ``python -m rlmrec_pyg.train.run dataset=amazon
model=lightgcn [alignment=contrastive]``. The only module that imports
Hydra; everything else is plain Python."""
import inspect
import logging
import os.path as osp
import sys
from typing import Any, Dict

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch_geometric import seed_everything
from torch_geometric.data import HeteroData

from rlmrec_pyg.io import json_save
from rlmrec_pyg.nn import NodeEmbedding
from rlmrec_pyg.secrets import refuse_secret_overrides
from rlmrec_pyg.train.checkpoint import load_checkpoint
from rlmrec_pyg.train.history import csv_history
from rlmrec_pyg.train.trainer import Trainer
from rlmrec_pyg.train.studies import (check_study_options, load_pretrained,
                                      prepare_data, pretrain_then_finetune)
from rlmrec_pyg.typing import USER

log = logging.getLogger(__name__)


def _device(name: str) -> torch.device:
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    return torch.device(name)


def _build_model(cfg: DictConfig, data: HeteroData,
                 embedding_dim: int) -> torch.nn.Module:
    encoder = instantiate(cfg.model)
    if not cfg.get('alignment'):
        return encoder
    sem = getattr(data[USER], 'sem_emb', None)
    if sem is None:
        raise ValueError("The alignment needs 'sem_emb' on the data (got a "
                         "dataset without semantic embeddings)")
    wrapper = instantiate(cfg.alignment.module)
    kwargs: Dict[str, Any] = dict(sem_channels=int(sem.size(-1)),
                                  out_channels=encoder.out_channels)
    func = getattr(wrapper, 'func', wrapper)
    if 'in_channels' in inspect.signature(func).parameters:
        kwargs['in_channels'] = embedding_dim
    return wrapper(encoder, **kwargs)


def check_run_config(cfg: DictConfig) -> Trainer:
    r"""Checks every argument of a run before any data, profile or vector
    work and returns its :class:`~rlmrec_pyg.train.Trainer`: the study
    options (:func:`~rlmrec_pyg.train.studies.check_study_options`), the
    trainer's arguments, the encoder's and the optimizer's (built once on
    a placeholder and dropped), the device, and the :obj:`init_from`
    checkpoint (read safely). One clear error, nothing written."""
    check_study_options(cfg)
    weight = float(cfg.alignment.weight) if cfg.get('alignment') else 0.0
    trainer_kwargs = dict(OmegaConf.to_container(cfg.trainer, resolve=True))
    trainer = Trainer(**trainer_kwargs, alignment_weight=weight,
                      checkpoint_path=osp.join(cfg.output_dir, 'best.pt'),
                      seed=cfg.seed)
    _device(cfg.device)
    instantiate(cfg.model)
    instantiate(cfg.optimizer)([torch.nn.Parameter(torch.zeros(1))])
    if cfg.get('init_from'):
        load_checkpoint(cfg.init_from, required=('embedding', ),
                        what="'init_from' checkpoint")
    return trainer


def run(cfg: DictConfig) -> Dict[str, Any]:
    r"""Builds data, ID embeddings, encoder (wrapped by
    :obj:`cfg.alignment.module` when set), optimizer and
    :class:`~rlmrec_pyg.train.Trainer` from :obj:`cfg`, trains, writes
    :obj:`metrics.json` and :obj:`best.pt` into :obj:`cfg.output_dir` and
    returns the flat metrics (:obj:`"val/recall@20"`,
    :obj:`"test/ndcg@20"`, ..., :obj:`"best_epoch"`)."""
    if cfg.get('pretrain') and cfg.pretrain.enabled:
        check_study_options(cfg)
        return pretrain_then_finetune(cfg, run)
    trainer = check_run_config(cfg)
    seed_everything(cfg.seed)
    dataset = instantiate(cfg.dataset)
    data = dataset if isinstance(dataset, HeteroData) else dataset[0]
    data = prepare_data(data, cfg, align=bool(cfg.get('alignment')))
    device = _device(cfg.device)
    data = data.to(device)
    embedding_dim = int(cfg.model.embedding_dim)
    sizes = {nt: int(data[nt].num_nodes) for nt in data.node_types}
    embedding = NodeEmbedding(sizes, embedding_dim).to(device)
    model = _build_model(cfg, data, embedding_dim).to(device)
    if cfg.get('init_from'):
        load_pretrained(cfg.init_from, embedding, model)
    params = list(model.parameters()) + list(embedding.parameters())
    optimizer = instantiate(cfg.optimizer)(params)
    with csv_history(osp.join(cfg.output_dir, 'history.csv')):
        result = trainer.fit(model, embedding, data, optimizer,
                             resume=bool(cfg.resume))
    json_save(result, osp.join(cfg.output_dir, 'metrics.json'))
    flat: Dict[str, Any] = {
        f'{split}/{key}': value
        for split in ('val', 'test')
        for key, value in result[split].items()
    }
    flat.update(best_epoch=result['best_epoch'],
                last_epoch=result['last_epoch'], seconds=result['seconds'],
                stopped_by=result['stopped_by'])
    log.info(f'Result: {flat}')
    return flat


@hydra.main(version_base='1.3', config_path='../../conf',
            config_name='train')
def _main(cfg: DictConfig) -> float:
    return run(cfg)['val/recall@20']


def main() -> None:
    r"""The ``rlmrec-train`` command: refuses an API key on the command line
    (Hydra would save it into the run folder), then runs Hydra."""
    refuse_secret_overrides(sys.argv[1:])
    _main()


if __name__ == '__main__':
    main()

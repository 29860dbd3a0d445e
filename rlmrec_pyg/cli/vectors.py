r"""The ``rlmrec-vectors`` command (``python -m rlmrec_pyg.cli.vectors``):
one command from a dataset to profiles and semantic vectors (RLMRec paper,
Sec. 3.2-3.3): ``rlmrec-vectors dataset=movielens profiles=offline
semantic=minilm`` (config :obj:`conf/vectors.yaml`).

Writes into the Hydra output folder: :obj:`profiles.jsonl` (one line per
node: type, id, profile, reasoning), :obj:`sem_emb.pt` (``{'user': Tensor,
'item': Tensor}``), :obj:`metrics.json` (times and throughput) and, for LLM
profiles, :obj:`usage.json` (tokens and estimated cost). With
:obj:`semantic.store_dir` set, the vectors go to half-precision
:class:`~rlmrec_pyg.semantic.VectorStore` folders
:obj:`<store_dir>/{user,item}` instead of :obj:`sem_emb.pt` (resumable
chunk by chunk; training memory-maps them with ``semantic=stored
semantic.path=<store_dir>``)."""
import json
import logging
import os
import os.path as osp
import time
from typing import Any, Dict

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch_geometric.data import Dataset, HeteroData

from rlmrec_pyg.cli import CONFIG_DIR, entry_point
from rlmrec_pyg.io import atomic_write, json_save, torch_save
from rlmrec_pyg.typing import ITEM, PROFILE, REASONING, SEM_EMB, USER

log = logging.getLogger(__name__)


def load_data(cfg: DictConfig) -> HeteroData:
    r"""Instantiates :obj:`cfg` (a dataset, or a function returning a
    graph) and returns its graph."""
    log.info(f'Instantiating dataset <{cfg._target_}>')
    obj = instantiate(cfg)
    return obj[0] if isinstance(obj, Dataset) else obj


def save_profiles(data: HeteroData, path: str) -> None:
    r"""Writes the profile (and reasoning) of every item and user to the
    JSONL file :obj:`path`, one node a line, crash-safely."""
    def write(f: Any) -> None:
        for node_type in (ITEM, USER):
            store = data[node_type]
            reasoning = store[REASONING] if REASONING in store else None
            for i, profile in enumerate(store[PROFILE]):
                f.write(json.dumps(dict(
                    node_type=node_type, node_id=i, profile=profile,
                    reasoning=None if reasoning is None else reasoning[i]),
                    ensure_ascii=False) + '\n')

    atomic_write(path, write, 'w')


def vectors(cfg: DictConfig) -> Dict[str, Any]:
    r"""Runs profiles -> vectors for :obj:`cfg.dataset` and returns the
    metrics (or the dry-run report when :obj:`cfg.dry_run`)."""
    data = load_data(cfg.dataset)
    log.info(f'Instantiating profiler <{cfg.profiles._target_}>')
    profiler = instantiate(cfg.profiles)
    if cfg.dry_run:
        if not hasattr(profiler, 'dry_run'):
            log.info(f'{profiler} asks no LLM: nothing to estimate')
            return {}
        return profiler.dry_run(data)
    num_texts = data[USER].num_nodes + data[ITEM].num_nodes
    start = time.perf_counter()
    data = profiler(data)
    profile_secs = time.perf_counter() - start
    log.info(f'Instantiating semantic <{cfg.semantic._target_}>')
    attach = instantiate(cfg.semantic)
    start = time.perf_counter()
    data = attach(data)
    embed_secs = time.perf_counter() - start
    metrics = dict(
        num_users=data[USER].num_nodes, num_items=data[ITEM].num_nodes,
        sem_channels=int(data[USER][SEM_EMB].size(-1)),
        profile_seconds=round(profile_secs, 3),
        embed_seconds=round(embed_secs, 3),
        texts_per_second=round(num_texts / max(profile_secs + embed_secs,
                                               1e-9), 1))
    out = cfg.output_dir
    os.makedirs(out, exist_ok=True)
    save_profiles(data, osp.join(out, 'profiles.jsonl'))
    store_dir = getattr(attach, 'store_dir', None)
    if store_dir is None:
        torch_save({t: data[t][SEM_EMB]
                    for t in (USER, ITEM)}, osp.join(out, 'sem_emb.pt'))
    else:
        metrics['store_dir'] = osp.abspath(store_dir)
    usage = getattr(profiler, 'usage', None)
    if usage is not None:
        report = dict(usage.to_dict(), cost_usd=usage.cost(
            profiler.model, profiler.price_per_1m,
            batch=profiler.mode == 'batch'))
        json_save(report, osp.join(out, 'usage.json'), indent=1)
    json_save(metrics, osp.join(out, 'metrics.json'), indent=1)
    log.info(f'Vectors written to {out}: {metrics}')
    return metrics


@hydra.main(version_base='1.3', config_path=CONFIG_DIR,
            config_name='vectors')
def _main(cfg: DictConfig) -> None:
    vectors(cfg)


def main() -> None:
    r"""The ``rlmrec-vectors`` command (see :func:`rlmrec_pyg.cli.
    entry_point`)."""
    entry_point(_main)


if __name__ == '__main__':
    main()

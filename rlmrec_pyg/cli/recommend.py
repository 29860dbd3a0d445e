r"""The ``rlmrec-recommend`` command (``python -m rlmrec_pyg.cli.recommend``):
top-:math:`k` items per user, with raw ids, from the run folder of an
``rlmrec-train`` run, and optionally its embeddings as files.

.. code-block:: bash

    rlmrec-recommend outputs/runs/2026-11-30_10-00-00 --k 20
    rlmrec-recommend RUN --users 42 7 --index approx --out top.csv
    rlmrec-recommend RUN --export-embeddings emb/ --format parquet

The run's composed config (``.hydra/config.yaml``) rebuilds its dataset and
model (``key=value`` arguments override it, *e.g.*,
``paths.data_dir=/data``); the weights are the run's ``best.pt``."""
import argparse
import csv
import logging
import os
import os.path as osp
from typing import Any, List, Optional, Sequence, Tuple

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from torch_geometric.data import HeteroData

from rlmrec_pyg.cli.studies import prepare_data
from rlmrec_pyg.cli.train import _device, build_model, to_device
from rlmrec_pyg.io import atomic_write
from rlmrec_pyg.nn import Recommender
from rlmrec_pyg.recommend import TopKRecommender, save_embeddings
from rlmrec_pyg.recommend.topk import INDEXES
from rlmrec_pyg.secrets import refuse_secret_overrides
from rlmrec_pyg.train.checkpoint import load_checkpoint
from rlmrec_pyg.typing import EDGE, ITEM, RAW_ID, TEST_INDEX, USER, VAL_INDEX

log = logging.getLogger(__name__)

#: Which interactions count as seen: the training ones, every split's, none.
EXCLUDE = ('all', 'train', 'none')


def load_run(run_dir: str, overrides: Sequence[str] = (),
             device: str = 'cpu', checkpoint: str = 'best.pt'
             ) -> Tuple[DictConfig, Recommender, HeteroData]:
    r"""Rebuilds the dataset and the model of the ``rlmrec-train`` run in
    :obj:`run_dir` from its saved config (plus :obj:`overrides`) and loads
    the weights of its :obj:`checkpoint` (read with
    :obj:`weights_only=True`); returns the config, the model (evaluation
    mode) and the graph."""
    path = osp.join(run_dir, '.hydra', 'config.yaml')
    if not osp.isfile(path):
        raise FileNotFoundError(f"'{run_dir}' is not the folder of an "
                                f"rlmrec-train run (no .hydra/config.yaml)")
    refuse_secret_overrides(list(overrides))
    cfg = OmegaConf.load(path)
    with open_dict(cfg):
        cfg.output_dir = run_dir
        cfg.device = device
        cfg.merge_with(OmegaConf.from_dotlist(list(overrides)))
    ckpt = load_checkpoint(osp.join(run_dir, checkpoint),
                           required=('model', 'embedding'),
                           what='checkpoint of the run')
    dataset = instantiate(cfg.dataset)
    data = dataset if isinstance(dataset, HeteroData) else dataset[0]
    data = prepare_data(data, cfg, align=bool(cfg.get('alignment')))
    dev = _device(cfg.device)
    data = to_device(data, dev)
    model = build_model(cfg, data, dev)
    model.encoder.load_state_dict(ckpt['model'])
    model.embedding.load_state_dict(ckpt['embedding'])
    return cfg, model.eval(), data


def seen_index(data: HeteroData, exclude: str) -> torch.Tensor:
    r"""The interactions a user has seen: :obj:`"train"` (those the model
    trained on, as the evaluation masks), :obj:`"all"` (every split's) or
    :obj:`"none"`."""
    if exclude not in EXCLUDE:
        raise ValueError(f"'exclude' must be one of "
                         f"{', '.join(map(repr, EXCLUDE))} (got {exclude!r})")
    store = data[EDGE]
    parts = {'train': [store.edge_index],
             'all': [store.edge_index, store[VAL_INDEX], store[TEST_INDEX]],
             'none': []}[exclude]
    return torch.cat([store.edge_index.new_empty(2, 0), *parts], dim=1)


def raw_ids(data: HeteroData, node_type: str) -> List[str]:
    r"""The raw ids of :obj:`node_type` (the node indices as strings when
    the dataset has none)."""
    ids = data[node_type].get(RAW_ID)
    if ids is None:
        return [str(i) for i in range(data[node_type].num_nodes)]
    return [str(i) for i in ids]


def users_of(names: Optional[Sequence[str]], ids: List[str]) -> torch.Tensor:
    r"""The indices of the users with raw ids :obj:`names` (all users if
    :obj:`None`)."""
    if not names:
        return torch.arange(len(ids))
    where = {raw: k for k, raw in enumerate(ids)}
    unknown = [n for n in names if n not in where]
    if unknown:
        raise ValueError(f"Unknown user ids {unknown[:5]} in '--users' (the "
                         f"dataset has {len(ids)} users, e.g. {ids[:3]})")
    return torch.tensor([where[n] for n in names])


def write_recommendations(path: str, users: torch.Tensor,
                          scores: torch.Tensor, items: torch.Tensor,
                          user_ids: List[str], item_ids: List[str]) -> int:
    r"""Writes ``user,rank,item,score`` rows (raw ids, ranks from 1)
    crash-safely; returns the number of rows."""
    rows = 0

    def write(f: Any) -> None:
        nonlocal rows
        out = csv.writer(f)
        out.writerow(['user', 'rank', 'item', 'score'])
        for u, s_row, i_row in zip(users.tolist(), scores.tolist(),
                                   items.tolist()):
            for rank, (s, i) in enumerate(zip(s_row, i_row), 1):
                if i >= 0:
                    out.writerow([user_ids[u], rank, item_ids[i],
                                  f'{s:.6g}'])
                    rows += 1
    atomic_write(path, write, 'w')
    return rows


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog='rlmrec-recommend', description=__doc__.split('\n\n')[0])
    parser.add_argument('run_dir', help='the folder of an rlmrec-train run')
    parser.add_argument('overrides', nargs='*', metavar='key=value',
                        help='overrides of the run config')
    parser.add_argument('--k', type=int, default=20)
    parser.add_argument('--users', nargs='+', metavar='ID',
                        help='raw user ids (default: every user)')
    parser.add_argument('--index', choices=INDEXES, default='exact')
    parser.add_argument('--num-cells', type=int, default=None,
                        help='approx: cells (default: 4 sqrt(items))')
    parser.add_argument('--cells-to-visit', type=int, default=None,
                        help='approx: cells searched (default: a quarter)')
    parser.add_argument('--bits-per-vector', type=int, default=None,
                        help='approx: sub-quantisers (default: width / 2)')
    parser.add_argument('--exclude', choices=EXCLUDE, default='all',
                        help="seen items left out: every split's (all), "
                        "the training ones (train) or none")
    parser.add_argument('--out', default=None,
                        help='CSV file (default: RUN_DIR/recommendations.csv)')
    parser.add_argument('--export-embeddings', metavar='DIR', default=None)
    parser.add_argument('--format', choices=['npy', 'parquet'],
                        default='npy')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--checkpoint', default='best.pt')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    _, model, data = load_run(args.run_dir, args.overrides, args.device,
                              args.checkpoint)
    with torch.no_grad():
        z = model(data)
    ids = {nt: raw_ids(data, nt) for nt in (USER, ITEM)}
    if args.export_embeddings:
        os.makedirs(args.export_embeddings, exist_ok=True)
        for path in save_embeddings(args.export_embeddings,
                                    {nt: z[nt] for nt in (USER, ITEM)}, ids,
                                    args.format):
            log.info(f'Wrote {path}')
    users = users_of(args.users, ids[USER])
    rec = TopKRecommender(z[USER], z[ITEM], seen_index(data, args.exclude),
                          index=args.index, num_cells=args.num_cells,
                          num_cells_to_visit=args.cells_to_visit,
                          bits_per_vector=args.bits_per_vector)
    scores, items = rec.recommend(users.to(z[USER].device), args.k,
                                  exclude_seen=args.exclude != 'none')
    out = args.out or osp.join(args.run_dir, 'recommendations.csv')
    rows = write_recommendations(out, users, scores.cpu(), items.cpu(),
                                 ids[USER], ids[ITEM])
    log.info(f'Wrote {rows} recommendations of {users.numel()} users to '
             f'{out} ({rec})')


if __name__ == '__main__':
    main()

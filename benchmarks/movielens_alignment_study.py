r"""Real-text study of issue 5 on MovieLens (offline profiles + bundled
MiniLM vectors, no API key): LightGCN Base vs. RLMRec-Con vs. RLMRec-Gen.

1. **Selection, validation only**: for Con and Gen, a grid of alignment
   weight x temperature is trained with seed 1; the setting with the best
   validation Recall@20 is kept (test metrics are never looked at here).
   Phase 1 trains this grid and the base seeds together (``--jobs``
   processes at once, ``--device cuda`` on a GPU).
2. **Final**: Base, the chosen Con and Gen, and both with shuffled semantic
   vectors (rows permuted within each node type, paper Sec. 4.3) over seeds
   1, 2, 3; mean and standard deviation of test R@20 / N@20.

Every finished run is appended to a JSON-lines file, so the script resumes.
The data, ID embeddings, encoder, trainer and protocol are the library's
own (:func:`rlmrec_pyg.train.run` building blocks, official trainer
settings: Adam 1e-3, batch 4096, eval every 3 epochs, patience 5).

.. code-block:: bash

    RLMREC_DATA_CACHE=/work/shared/data nice python \
        benchmarks/movielens_alignment_study.py --out study.jsonl
"""
import argparse
import json
import os
import os.path as osp
import statistics
import tempfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, Dict, List, Optional

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch_geometric import seed_everything

from rlmrec_pyg.nn import (
    ContrastiveAlignment,
    LightGCN,
    MaskedGenerativeAlignment,
    NodeEmbedding,
)
from rlmrec_pyg.train import Trainer
from rlmrec_pyg.train.studies import prepare_data, shuffle_semantic
from rlmrec_pyg.typing import USER

CONF = osp.abspath(osp.join(osp.dirname(__file__), '..', 'conf'))
GRID = {  # weight x temperature, around the paper's per-dataset values
    'contrastive': [(w, t) for w in (1e-2, 1e-1) for t in (0.2, 0.5)],
    'generative': [(w, t) for w in (1e-1, 1.0) for t in (0.2, 0.5)],
}


def load(data_dir: str) -> Any:
    with initialize_config_dir(version_base='1.3', config_dir=CONF):
        cfg = compose('train', overrides=[
            'dataset=movielens', 'semantic=minilm', 'alignment=contrastive',
            f'paths.data_dir={data_dir}'
        ])
    dataset = instantiate(cfg.dataset)
    return prepare_data(dataset[0], cfg, align=True), cfg


def train(data, cfg, variant: str, weight: float, tau: float, seed: int,
          shuffle: bool, threads: int, max_epochs: Optional[int] = None,
          device: str = 'cpu') -> Dict[str, Any]:
    torch.set_num_threads(threads)
    seed_everything(seed)
    if shuffle:
        data = shuffle_semantic(data, seed=seed)
    sizes = {nt: int(data[nt].num_nodes) for nt in data.node_types}
    embedding = NodeEmbedding(sizes, 32)
    model: torch.nn.Module = LightGCN(32, num_layers=3, edge_drop_rate=0.2)
    sem = int(data[USER].sem_emb.size(-1))
    if variant == 'contrastive':
        model = ContrastiveAlignment(model, sem, 32, tau,
                                     {'user': 'all', 'item': 'in_batch'})
    elif variant == 'generative':
        model = MaskedGenerativeAlignment(model, 32, sem, 32, 0.15, tau)
    data = data.to(device)
    model, embedding = model.to(device), embedding.to(device)
    params = list(model.parameters()) + list(embedding.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-3)
    kwargs = OmegaConf.to_container(cfg.trainer, resolve=True)
    kwargs.pop('progress_bar', None)  # same settings for every variant
    if max_epochs is not None:
        kwargs['max_epochs'] = max_epochs
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(**kwargs, alignment_weight=weight,
                          checkpoint_path=osp.join(tmp, 'best.pt'),
                          seed=seed, progress_bar=False)
        result = trainer.fit(model, embedding, data, optimizer)
    return dict(variant=variant, weight=weight, temperature=tau, seed=seed,
                shuffle=shuffle, val=result['val'], test=result['test'],
                best_epoch=result['best_epoch'])


def key(variant: str, weight: float, tau: float, seed: int,
        shuffle: bool) -> str:
    return f'{variant}|{weight}|{tau}|{seed}|{shuffle}'


_STATE: Dict[str, Any] = {}


def _init(args: argparse.Namespace) -> None:
    # Each worker process loads the data once (cached profiles / vectors).
    _STATE['data'], _STATE['cfg'] = load(args.data_dir)
    _STATE['args'] = args


def _task(task: tuple) -> Dict[str, Any]:
    args = _STATE['args']
    return train(_STATE['data'], _STATE['cfg'], *task, args.threads,
                 args.max_epochs, args.device)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--out', default='movielens_study.jsonl')
    parser.add_argument('--data-dir', default=os.environ.get(
        'RLMREC_DATA_DIR', 'data'))
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3])
    parser.add_argument('--max-epochs', type=int, default=None,
                        help='cap the epochs (smoke tests only)')
    parser.add_argument('--jobs', type=int, default=1,
                        help='runs trained at once (processes)')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    done: Dict[str, Dict[str, Any]] = {}
    if osp.exists(args.out):
        with open(args.out) as f:
            for line in f:
                r = json.loads(line)
                done[key(r['variant'], r['weight'], r['temperature'],
                         r['seed'], r['shuffle'])] = r

    def compute(tasks: List[tuple]) -> None:
        missing = [t for t in tasks if key(*t) not in done]
        if args.jobs > 1:
            pool = ProcessPoolExecutor(args.jobs, get_context('spawn'),
                                       _init, (args, ))
            results = pool.map(_task, missing)
        else:
            results = map(_task, missing)
        for task, r in zip(missing, results):
            done[key(*task)] = r
            with open(args.out, 'a') as f:
                f.write(json.dumps(r) + '\n')
            print(f'{key(*task)}: val R@20 {r["val"]["recall@20"]:.4f} test '
                  f'R@20 {r["test"]["recall@20"]:.4f} N@20 '
                  f'{r["test"]["ndcg@20"]:.4f} (epoch {r["best_epoch"]})',
                  flush=True)
        if args.jobs > 1:
            pool.shutdown()

    def get(variant: str, w: float, t: float, seed: int,
            shuffle: bool = False) -> Dict[str, Any]:
        return done[key(variant, w, t, seed, shuffle)]

    _init(args)  # processes the dataset and fills the caches once
    first = args.seeds[0]
    chosen: Dict[str, Any] = {'base': (0.0, 0.2)}
    # Phase 1: the validation grid (first seed) and the base seeds at once.
    compute([(v, w, t, first, False) for v, grid in GRID.items()
             for w, t in grid] + [('base', 0.0, 0.2, s, False)
                                  for s in args.seeds])
    for variant, grid in GRID.items():  # validation-only selection
        scores = [(get(variant, w, t, first)['val']['recall@20'], w, t)
                  for w, t in grid]
        best = max(scores)
        chosen[variant] = (best[1], best[2])
        print(f'chosen {variant}: weight {best[1]}, temperature {best[2]} '
              f'(val R@20 {best[0]:.4f}); grid: ' + ', '.join(
                  f'({w}, {t}) {s:.4f}' for s, w, t in scores), flush=True)
    rows: List[tuple] = [('base', False), ('contrastive', False),
                         ('generative', False), ('contrastive', True),
                         ('generative', True)]
    compute([(v, *chosen[v], s, shuffle) for v, shuffle in rows
             for s in args.seeds])  # phase 2: the final seeds
    table: Dict[str, Optional[Dict[str, float]]] = {}
    for variant, shuffle in rows:
        w, t = chosen[variant]
        runs = [get(variant, w, t, s, shuffle) for s in args.seeds]
        name = variant + (' (shuffled)' if shuffle else '')
        stats = {}
        for m in ('recall@20', 'ndcg@20'):
            values = [r['test'][m] for r in runs]
            stats[m] = (statistics.mean(values), statistics.stdev(values)
                        if len(values) > 1 else 0.0)
        table[name] = stats
        print(f'| {name:24s} | w={w} tau={t} | R@20 '
              f'{stats["recall@20"][0]:.4f} ± {stats["recall@20"][1]:.4f} | '
              f'N@20 {stats["ndcg@20"][0]:.4f} ± '
              f'{stats["ndcg@20"][1]:.4f} |', flush=True)


if __name__ == '__main__':
    main()

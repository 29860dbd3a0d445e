r"""Real-text study of issue 5 on MovieLens (offline profiles + bundled
MiniLM vectors, no API key): LightGCN Base vs. RLMRec-Con vs. RLMRec-Gen.

1. **Selection, validation only**: for Con and Gen, a grid of alignment
   weight x temperature is trained with seed 1; the setting with the best
   validation Recall@20 is kept (test metrics are never looked at here).
2. **Final**: Base, the chosen Con and Gen, and both with shuffled semantic
   vectors (rows permuted within each node type, paper §4.3) over seeds
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
          shuffle: bool, threads: int,
          max_epochs: Optional[int] = None) -> Dict[str, Any]:
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--out', default='movielens_study.jsonl')
    parser.add_argument('--data-dir', default=os.environ.get(
        'RLMREC_DATA_DIR', 'data'))
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3])
    parser.add_argument('--max-epochs', type=int, default=None,
                        help='cap the epochs (smoke tests only)')
    args = parser.parse_args()
    done: Dict[str, Dict[str, Any]] = {}
    if osp.exists(args.out):
        with open(args.out) as f:
            for line in f:
                r = json.loads(line)
                done[key(r['variant'], r['weight'], r['temperature'],
                         r['seed'], r['shuffle'])] = r
    data, cfg = load(args.data_dir)

    def get(variant: str, w: float, t: float, seed: int,
            shuffle: bool = False) -> Dict[str, Any]:
        k = key(variant, w, t, seed, shuffle)
        if k not in done:
            done[k] = train(data, cfg, variant, w, t, seed, shuffle,
                            args.threads, args.max_epochs)
            with open(args.out, 'a') as f:
                f.write(json.dumps(done[k]) + '\n')
            r = done[k]
            print(f'{k}: val R@20 {r["val"]["recall@20"]:.4f} test R@20 '
                  f'{r["test"]["recall@20"]:.4f} N@20 '
                  f'{r["test"]["ndcg@20"]:.4f} (epoch {r["best_epoch"]})',
                  flush=True)
        return done[k]

    first = args.seeds[0]
    chosen: Dict[str, Any] = {'base': (0.0, 0.2)}
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

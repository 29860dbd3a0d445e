r"""Seconds per epoch, seconds per evaluation and peak memory against the
number of interactions, on seeded synthetic catalogues
(:func:`rlmrec_pyg.data.synthetic.synthetic_catalogue`), and the log-log
slopes of time and memory against interactions.

Every (size, case) runs in a fresh process, so its peak RSS is its own.
Cases: :obj:`lightgcn` (full graph), :obj:`lightgcn_con` (plus RLMRec-Con
with in-batch negatives in blocks of :obj:`--max-candidates`), :obj:`sage`
(a ``to_hetero`` GraphSAGE on sampled subgraphs,
:class:`~torch_geometric.loader.LinkNeighborLoader`) and :obj:`sage_con`.
An epoch takes a fixed number of steps at every size (:obj:`--steps`,
:obj:`--sampled-steps`: the batch grows with the interactions), since a
step costs at least one pass over the ID tables (the optimizer) and, full
graph, one propagation over every edge. The evaluation ranks a seeded
sample of :obj:`--eval-users` users against every item in item chunks
(:func:`rlmrec_pyg.train.evaluate`).

.. code-block:: bash

    python -m benchmarks.bench_scaling --interactions 100000 1000000 10000000
"""
import argparse
import json
import math
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional

import torch
from torch_geometric.nn import GraphSAGE, to_hetero

from benchmarks.common import add_common_args, clock, since, write_result
from rlmrec_pyg.data import BPRSampler
from rlmrec_pyg.data.synthetic import synthetic_catalogue
from rlmrec_pyg.nn import ContrastiveAlignment, LightGCN, Recommender
from rlmrec_pyg.train import evaluate, retain_freed_memory
from rlmrec_pyg.train.loop import loss_weights, train_epoch
from rlmrec_pyg.train.sampled import train_epoch_sampled
from rlmrec_pyg.typing import EDGE, ITEM

CASES = ('lightgcn', 'lightgcn_con', 'sage', 'sage_con')


def catalogue(num_interactions: int, sem_channels: int):
    r"""Users and items in a fixed ratio to the interactions (20 and 40
    interactions per user and per item on average)."""
    return synthetic_catalogue(max(num_interactions // 20, 100),
                               max(num_interactions // 40, 50),
                               num_interactions, sem_channels=sem_channels,
                               sem_dtype=torch.float16, seed=0)


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> Dict[str, float]:
    torch.manual_seed(0)
    start = clock()
    data = catalogue(args.size, args.sem_channels)
    out = dict(generate_s=since(start)[0],
               users=data['user'].num_nodes, items=data[ITEM].num_nodes,
               train=data[EDGE].edge_index.size(1))
    sage = args.case.startswith('sage')
    if sage:
        encoder = to_hetero(GraphSAGE(-1, args.dim, 2), data.metadata())
    else:
        encoder = LightGCN(args.dim, num_layers=3)
    weights = {}
    if args.case.endswith('_con'):
        encoder = ContrastiveAlignment(encoder, negatives='in_batch',
                                       max_candidates=args.max_candidates)
        weights = {'align': 0.1}
    model = Recommender(encoder, data, embedding_dim=args.dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    steps = args.sampled_steps if sage else args.steps
    out['batch'] = batch = -(-out['train'] // steps)
    start = clock()
    if sage:
        train_epoch_sampled(model, data, optimizer, args.num_neighbors,
                            batch, loss_weights(weights), 'batch', gen)
    else:
        sampler = BPRSampler(data[EDGE].edge_index, data[ITEM].num_nodes)
        train_epoch(model, data, optimizer, sampler, batch,
                    loss_weights(weights), 'batch', gen)
    out['epoch_s'], out['epoch_cpu_s'] = since(start)
    start = clock()
    evaluate(model, data, 'test', ks=[20], item_batch_size=args.item_chunk,
             user_sample=args.eval_users, seed=0)
    out['eval_s'] = since(start)[0]
    out['peak_rss_mb'] = peak_rss_mb()
    return out


def slope(xs: List[float], ys: List[float]) -> Optional[float]:
    r"""Least-squares slope of :math:`\log y` against :math:`\log x`."""
    if len(xs) < 2:
        return None
    return statistics.linear_regression(
        [math.log(x) for x in xs], [math.log(max(y, 1e-9)) for y in ys]).slope


def main(argv: Optional[List[str]] = None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--interactions', type=float, nargs='+',
                        default=[1e5, 1e6, 1e7])
    parser.add_argument('--cases', nargs='+', default=list(CASES),
                        choices=CASES)
    parser.add_argument('--dim', type=int, default=64)
    parser.add_argument('--sem-channels', type=int, default=64)
    parser.add_argument('--steps', type=int, default=16,
                        help='full-graph steps per epoch')
    parser.add_argument('--sampled-steps', type=int, default=64,
                        help='sampled steps per epoch')
    parser.add_argument('--max-candidates', type=int, default=1024,
                        help="RLMRec-Con's in-batch block size")
    parser.add_argument('--num-neighbors', type=int, nargs='+',
                        default=[4, 2])
    parser.add_argument('--eval-users', type=int, default=10000)
    parser.add_argument('--item-chunk', type=int, default=65536)
    parser.add_argument('--retain-freed-memory', action='store_true',
                        help="glibc malloc keeps large freed blocks "
                        "(rlmrec_pyg.train.retain_freed_memory)")
    parser.add_argument('--child', nargs=2, metavar=('SIZE', 'CASE'),
                        help=argparse.SUPPRESS)
    args = add_common_args(parser).parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.child:
        if args.retain_freed_memory:
            retain_freed_memory()
        args.size, args.case = int(float(args.child[0])), args.child[1]
        print(json.dumps(child(args)))
        return {}
    if args.smoke:
        args.interactions = [2e3, 4e3]
        args.cases = [c for c in args.cases if c.endswith('_con')]
        args.steps, args.sampled_steps, args.max_candidates = 4, 8, 64
        args.eval_users, args.item_chunk, args.dim = 50, 40, 16
    settings = ['--dim', str(args.dim), '--sem-channels',
                str(args.sem_channels), '--steps', str(args.steps),
                '--sampled-steps', str(args.sampled_steps),
                '--max-candidates', str(args.max_candidates), '--eval-users',
                str(args.eval_users), '--item-chunk', str(args.item_chunk),
                '--threads', str(args.threads), '--num-neighbors',
                *map(str, args.num_neighbors)] + (
                    ['--retain-freed-memory'] if args.retain_freed_memory
                    else [])
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    rows: Dict[str, Dict[str, Dict[str, float]]] = {}
    for case in args.cases:
        rows[case] = {}
        for size in args.interactions:
            size = int(size)
            cmd = [sys.executable, '-m', 'benchmarks.bench_scaling',
                   '--child', str(size), case, *settings]
            t = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True,
                                 cwd=root, env=env)
            if out.returncode != 0:
                raise RuntimeError(f'{case} at {size} interactions failed:\n'
                                   f'{out.stderr[-2000:]}')
            row = json.loads(out.stdout.strip().splitlines()[-1])
            row['process_s'] = time.perf_counter() - t
            rows[case][str(size)] = row
            print(f"{case:13s} {size:>10d} interactions (batch "
                  f"{row['batch']}): epoch {row['epoch_s']:.2f}s, eval "
                  f"{row['eval_s']:.2f}s, peak RSS {row['peak_rss_mb']:.0f} "
                  f"MB (generate {row['generate_s']:.1f}s)", flush=True)
    slopes = {}
    for case, by_size in rows.items():
        sizes = [float(s) for s in by_size]
        slopes[case] = {
            key: slope(sizes, [by_size[s][key] for s in by_size])
            for key in ('epoch_s', 'eval_s', 'peak_rss_mb')
        }
        print(f'{case:13s} log-log slopes vs interactions: ' + ', '.join(
            f'{k} {v:.2f}' for k, v in slopes[case].items()
            if v is not None))
    cases = {f'{case}@{size}': {'wall_s': [row['epoch_s']],
                                'cpu_s': [row['epoch_cpu_s']]}
             for case, by_size in rows.items()
             for size, row in by_size.items()}
    return write_result(args.json, 'bench_scaling', vars(args), cases,
                        rows=rows, slopes=slopes)


if __name__ == '__main__':
    main()

r"""Median seconds per training epoch and per full test evaluation on
RLMRec's Amazon-book split, for our LightGCN and GCCF and PyG's own
:class:`torch_geometric.nn.models.LightGCN` trained by the same loop, plus
the peak RSS of each training run (every model runs in its own process).

    RLMREC_DATA_CACHE=/path/to/data python benchmarks/engine_speed.py \
        --threads 2 --epochs 10 --evals 5
"""
import argparse
import json
import os.path as osp
import resource
import statistics
import subprocess
import sys
import time
import warnings

import torch

from rlmrec_pyg.data import BPRSampler, RLMRecDataset
from rlmrec_pyg.nn import GCCF, LightGCN, NodeEmbedding
from rlmrec_pyg.train import evaluate, train_epoch
from rlmrec_pyg.typing import EDGE, ITEM

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from pyg_lightgcn import NoEmbedding, PyGLightGCNEncoder  # noqa: E402

warnings.filterwarnings('ignore', '.*Sparse CSR tensor support.*')
warnings.filterwarnings('ignore', '.*Sparse invariant checks.*')

MODELS = ['lightgcn', 'gccf', 'pyg_lightgcn']

parser = argparse.ArgumentParser()
parser.add_argument('--models', nargs='+', default=MODELS,
                    help=f'any of {MODELS} or NAME:BACKEND, *e.g.*, '
                    f'lightgcn:sparse_tensor')
parser.add_argument('--threads', type=int, default=2)
parser.add_argument('--epochs', type=int, default=10)
parser.add_argument('--evals', type=int, default=5)
parser.add_argument('--root', default='/tmp/rlmrec_data')
parser.add_argument('--single', default=None, help=argparse.SUPPRESS)
args = parser.parse_args()


def measure(spec: str) -> dict:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    name, _, backend = spec.partition(':')
    data = RLMRecDataset(args.root, 'amazon')[0]
    sizes = {nt: data[nt].num_nodes for nt in data.node_types}
    if name == 'pyg_lightgcn':
        model, embedding = PyGLightGCNEncoder(data, 32, 3), NoEmbedding()
    else:
        cls, num_layers = (LightGCN, 3) if name == 'lightgcn' else (GCCF, 2)
        model = cls(32, num_layers, backend=backend or None)
        embedding = NodeEmbedding(sizes, 32)
    params = list(model.parameters()) + list(embedding.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-3, fused=True)
    sampler = BPRSampler(data[EDGE].edge_index, data[ITEM].num_nodes)
    gen = torch.Generator().manual_seed(0)
    epoch_times, eval_times, epoch_cpu, eval_cpu = [], [], [], []
    for i in range(args.epochs + 1):  # the first epoch is a warm-up
        t, c = time.perf_counter(), time.process_time()
        train_epoch(model, embedding, data, optimizer, sampler,
                    lambda_reg=1e-6, generator=gen)
        if i > 0:
            epoch_times.append(time.perf_counter() - t)
            epoch_cpu.append(time.process_time() - c)
    for i in range(args.evals + 1):
        t, c = time.perf_counter(), time.process_time()
        out = evaluate(model, embedding, data, 'test')
        if i > 0:
            eval_times.append(time.perf_counter() - t)
            eval_cpu.append(time.process_time() - c)
    # CPU seconds (all threads) are less sensitive to other processes on a
    # shared machine than wall seconds.
    return dict(model=spec, epoch_s=statistics.median(epoch_times),
                epoch_cpu_s=statistics.median(epoch_cpu),
                eval_s=statistics.median(eval_times),
                eval_cpu_s=statistics.median(eval_cpu),
                peak_rss_mb=resource.getrusage(
                    resource.RUSAGE_SELF).ru_maxrss / 1024,
                test_recall20=out['recall@20'], threads=args.threads)


if args.single is not None:
    print(json.dumps(measure(args.single)))
    sys.exit(0)

rows = []
for spec in args.models:
    cmd = [sys.executable, __file__, '--single', spec] + [
        f'--{k}={v}' for k, v in (('threads', args.threads),
                                  ('epochs', args.epochs),
                                  ('evals', args.evals), ('root', args.root))
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
print(f"{'model':24s} {'epoch s':>8s} {'epoch cpu s':>11s} {'eval s':>7s} "
      f"{'eval cpu s':>10s} {'peak RSS MB':>11s}")
for row in rows:
    print(f"{row['model']:24s} {row['epoch_s']:8.3f} "
          f"{row['epoch_cpu_s']:11.3f} {row['eval_s']:7.3f} "
          f"{row['eval_cpu_s']:10.3f} {row['peak_rss_mb']:11.0f}")
by_name = {row['model']: row for row in rows}
if 'pyg_lightgcn' in by_name and 'lightgcn' in by_name:
    ratio = by_name['pyg_lightgcn']['epoch_s'] / by_name['lightgcn']['epoch_s']
    print(f'PyG LightGCN / our LightGCN, seconds per epoch: {ratio:.2f}x')
    ratio = (by_name['pyg_lightgcn']['eval_s'] /
             by_name['lightgcn']['eval_s'])
    print(f'PyG LightGCN / our LightGCN, seconds per evaluation: '
          f'{ratio:.2f}x')
print(json.dumps(rows))

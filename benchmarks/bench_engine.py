r"""Median seconds per training epoch and per full test evaluation on
RLMRec's Amazon-book split, for our LightGCN and GCCF and PyG's LightGCN
propagation (:mod:`benchmarks.pyg_lightgcn`) trained by the same loop,
plus the peak RSS of each training run: every model runs in its own
process. Formerly ``engine_speed.py``.

.. code-block:: bash

    RLMREC_DATA_CACHE=/path/to/data python -m benchmarks.bench_engine \
        --threads 2 --epochs 10 --evals 5
"""
import argparse
import json
import resource
import subprocess
import sys
from typing import Any, Dict, List, Optional

import torch

from benchmarks.common import (
    Samples,
    add_common_args,
    clock,
    load_data,
    medians,
    sampler_of,
    since,
    write_result,
)
from benchmarks.pyg_lightgcn import PyGLightGCN
from rlmrec_pyg.nn import GCCF, LightGCN, Recommender
from rlmrec_pyg.train import evaluate, train_epoch

MODELS = ['lightgcn', 'gccf', 'pyg_lightgcn']


def build(spec: str, data) -> Recommender:
    r"""The recommender of :obj:`spec` (``NAME`` or ``NAME:BACKEND``)."""
    name, _, backend = spec.partition(':')
    if name == 'pyg_lightgcn':
        encoder: torch.nn.Module = PyGLightGCN(32, 3)
    elif name in ('lightgcn', 'gccf'):
        cls, num_layers = (LightGCN, 3) if name == 'lightgcn' else (GCCF, 2)
        encoder = cls(32, num_layers, backend=backend or None)
    else:
        raise ValueError(f"Unknown model '{spec}' in '--models' (choose "
                         f"from {MODELS}, optionally ':BACKEND')")
    return Recommender(encoder, data, embedding_dim=32)


def timed(fn, count: int) -> Dict[str, List[float]]:
    r"""Wall and CPU seconds of :obj:`count` calls after one warm-up."""
    out: Dict[str, List[float]] = {'wall_s': [], 'cpu_s': []}
    for i in range(count + 1):
        start = clock()
        fn()
        wall, cpu = since(start)
        if i > 0:
            out['wall_s'].append(wall)
            out['cpu_s'].append(cpu)
    return out


def measure(spec: str, args: argparse.Namespace) -> Dict[str, Any]:
    r"""Trains and evaluates :obj:`spec` in this process."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = load_data(args.smoke)
    model = build(spec, data)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    sampler = sampler_of(data)
    gen = torch.Generator().manual_seed(0)
    epoch = timed(lambda: train_epoch(model, data, optimizer, sampler,
                                      weights={'reg': 1e-6}, generator=gen),
                  args.epochs)
    result: Dict[str, Any] = {}

    def test() -> None:
        result.update(evaluate(model, data, 'test'))

    test_s = timed(test, args.evals)
    return dict(model=spec, epoch=epoch, eval=test_s,
                peak_rss_mb=resource.getrusage(
                    resource.RUSAGE_SELF).ru_maxrss / 1024,
                test_recall20=result['recall@20'], threads=args.threads)


def main(argv: Optional[List[str]] = None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+', default=MODELS,
                        help=f'any of {MODELS} or NAME:BACKEND, e.g. '
                        f'lightgcn:sparse_tensor')
    parser.add_argument('--epochs', type=int, default=10)
    parser.add_argument('--evals', type=int, default=5)
    parser.add_argument('--single', default=None, help=argparse.SUPPRESS)
    parser.add_argument('--in-process', action='store_true',
                        help='run every model in this process (quicker; '
                        'the peak RSS is then that of all runs so far)')
    args = add_common_args(parser).parse_args(argv)
    if args.smoke:
        args.epochs, args.evals = 1, 1
    if args.single is not None:
        print(json.dumps(measure(args.single, args)))
        return {}
    rows = []
    for spec in args.models:
        if args.in_process:
            rows.append(measure(spec, args))
            continue
        cmd = [sys.executable, '-m', 'benchmarks.bench_engine', '--single',
               spec, f'--threads={args.threads}', f'--epochs={args.epochs}',
               f'--evals={args.evals}'] + (['--smoke'] if args.smoke else [])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'model':24s} {'epoch s':>8s} {'epoch cpu s':>11s} {'eval s':>7s} "
          f"{'eval cpu s':>10s} {'peak RSS MB':>11s}")
    cases: Samples = {}
    for row in rows:
        cases[f"{row['model']}/epoch"] = row['epoch']
        cases[f"{row['model']}/eval"] = row['eval']
    wall, cpu = medians(cases), medians(cases, 'cpu_s')
    for row in rows:
        m = row['model']
        print(f"{m:24s} {wall[f'{m}/epoch']:8.3f} {cpu[f'{m}/epoch']:11.3f} "
              f"{wall[f'{m}/eval']:7.3f} {cpu[f'{m}/eval']:10.3f} "
              f"{row['peak_rss_mb']:11.0f}")
    for what in ('epoch', 'eval'):
        if f'pyg_lightgcn/{what}' in wall and f'lightgcn/{what}' in wall:
            ratio = wall[f'pyg_lightgcn/{what}'] / wall[f'lightgcn/{what}']
            print(f'PyG LightGCN / our LightGCN, seconds per {what}: '
                  f'{ratio:.2f}x')
    return write_result(args.json, 'bench_engine', vars(args), cases,
                        runs=rows)


if __name__ == '__main__':
    main()

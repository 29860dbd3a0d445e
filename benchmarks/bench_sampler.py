r"""Median seconds to sample one epoch of BPR triples on Amazon-book.

    RLMREC_DATA_CACHE=../shared/data python benchmarks/bench_sampler.py
"""
import argparse
import statistics
import tempfile
import time

import torch

from rlmrec_pyg.data import BPRSampler, RLMRecDataset
from rlmrec_pyg.typing import EDGE, ITEM


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--root', default=None)
    parser.add_argument('--epochs', type=int, default=20)
    args = parser.parse_args()
    root = args.root or tempfile.mkdtemp()
    data = RLMRecDataset(root, 'amazon')[0]
    t = time.perf_counter()
    sampler = BPRSampler(data[EDGE].edge_index, data[ITEM].num_nodes)
    setup = time.perf_counter() - t
    gen = torch.Generator().manual_seed(0)
    times = []
    for _ in range(args.epochs):
        t = time.perf_counter()
        sampler.sample(gen)
        times.append(time.perf_counter() - t)
    print(f'threads={torch.get_num_threads()} interactions='
          f'{data[EDGE].edge_index.size(1)} setup={setup:.4f}s '
          f'median epoch={statistics.median(times):.4f}s '
          f'(min {min(times):.4f}s, max {max(times):.4f}s, '
          f'{args.epochs} epochs)')


if __name__ == '__main__':
    main()

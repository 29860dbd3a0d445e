r"""Forward + backward time of the RLMRec projector MLP
(docs/parity.md#projector-mlp) in
float32 and under bfloat16 autocast, for the row counts one Amazon-book
batch projects (11000 = all users, 4096 = one batch group).

.. code-block:: bash

    nice python benchmarks/projector_bf16.py --threads 2
"""
import argparse
import statistics
import time

import torch

from rlmrec_pyg.nn.alignment_base import _Projector


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print('d_s  rows   fp32 ms  bf16 ms  speed-up  (fp32 GFLOP/s)')
    for sem in (1536, 384):
        proj = _Projector(sem, 32)
        for rows in (11000, 4096):
            x = torch.randn(rows, sem)
            times = {}
            for bf16 in (False, True):
                runs = []
                for _ in range(args.repeats):
                    proj.zero_grad()
                    t0 = time.perf_counter()
                    with torch.autocast('cpu', torch.bfloat16, enabled=bf16):
                        out = proj(x)
                    out.float().sum().backward()
                    runs.append(time.perf_counter() - t0)
                times[bf16] = statistics.median(runs)
            # forward + weight gradient of both layers (no input gradient)
            flop = 2 * 2 * rows * proj.hidden_channels * (sem + 32)
            print(f'{sem:4d} {rows:6d} {times[False] * 1e3:9.1f} '
                  f'{times[True] * 1e3:8.1f} {times[False] / times[True]:8.2f}'
                  f'  ({flop / times[False] / 1e9:.0f})')


if __name__ == '__main__':
    main()

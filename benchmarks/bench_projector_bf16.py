r"""Forward + backward time of the RLMRec projector MLP (the one of
:class:`~rlmrec_pyg.nn.ContrastiveAlignment`) in float32 and under
bfloat16 autocast, for the row counts one Amazon-book batch projects
(11000 = all users, 4096 = one batch group).

.. code-block:: bash

    nice python -m benchmarks.bench_projector_bf16 --threads 2
"""
import argparse
from typing import Dict, List, Optional

import torch

from benchmarks.common import (
    DIM,
    Samples,
    add_common_args,
    medians,
    side_by_side,
    write_result,
)
from rlmrec_pyg.nn import ContrastiveAlignment


def projector(sem: int) -> torch.nn.Module:
    r"""The projector :math:`\sigma_\downarrow` (``sem -> hidden -> 32``)
    of RLMRec-Con."""
    return ContrastiveAlignment(torch.nn.Identity(), sem, DIM).projector


def step(proj: torch.nn.Module, x: torch.Tensor, bf16: bool):
    def fn() -> None:
        proj.zero_grad()
        with torch.autocast('cpu', torch.bfloat16, enabled=bf16):
            out = proj(x)
        out.float().sum().backward()
    return fn


def main(argv: Optional[List[str]] = None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sem-channels', type=int, nargs='+',
                        default=[1536, 384])
    parser.add_argument('--rows', type=int, nargs='+', default=[11000, 4096])
    parser.add_argument('--repeats', type=int, default=5)
    args = add_common_args(parser).parse_args(argv)
    if args.smoke:
        args.sem_channels, args.rows, args.repeats = [16], [64], 1
    torch.set_num_threads(args.threads)
    print('d_s  rows   fp32 ms  bf16 ms  speed-up  (fp32 GFLOP/s)')
    cases: Samples = {}
    for sem in args.sem_channels:
        proj = projector(sem)
        hidden = proj.hidden_channels
        for rows in args.rows:
            x = torch.randn(rows, sem)
            key = f'd_s={sem}/rows={rows}'
            samples = side_by_side({
                f'{key}/fp32': step(proj, x, False),
                f'{key}/bf16': step(proj, x, True)
            }, args.repeats)
            cases.update(samples)
            med = medians(samples)
            fp32, bf16 = med[f'{key}/fp32'], med[f'{key}/bf16']
            # forward + weight gradient of both layers (no input gradient)
            flop = 2 * 2 * rows * hidden * (sem + DIM)
            print(f'{sem:4d} {rows:6d} {fp32 * 1e3:9.1f} {bf16 * 1e3:8.1f} '
                  f'{fp32 / bf16:8.2f}  ({flop / fp32 / 1e9:.0f})')
    return write_result(args.json, 'bench_projector_bf16', vars(args),
                        cases)


if __name__ == '__main__':
    main()

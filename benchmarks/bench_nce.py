r"""One in-batch contrast of DCCF, forward + backward, written the official
way (``exp(mm(e1, e2.T) / t)`` summed per row, the ``n x n`` matrix and
its temporaries materialised) vs. the library's
:func:`~rlmrec_pyg.nn.info_nce` (log-sum-exp in row blocks). DCCF computes
twelve such terms per batch (2 layers x 3 views x users / items), with
``n`` about 3000 distinct users or items per 4096-triple batch on
Amazon-book. Formerly ``official_nce_cost.py``.

.. code-block:: bash

    python -m benchmarks.bench_nce --n 3000
"""
import argparse
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F

from benchmarks.common import (
    Samples,
    add_common_args,
    medians,
    side_by_side,
    write_result,
)
from rlmrec_pyg.nn import info_nce


def official_nce(e1: torch.Tensor, e2: torch.Tensor,
                 temperature: float) -> torch.Tensor:
    r"""The official formula (``dccf.py``, ``cal_loss``)."""
    e1, e2 = F.normalize(e1, dim=1), F.normalize(e2, dim=1)
    pos = torch.exp((e1 * e2).sum(dim=1) / temperature)
    neg = torch.exp(e1 @ e2.t() / temperature).sum(dim=1)
    return (-torch.log(pos / (neg + 1e-8) + 1e-8)).sum() / pos.size(0)


def main(argv: Optional[List[str]] = None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--n', type=int, default=3000)
    parser.add_argument('--dim', type=int, default=32)
    parser.add_argument('--temperature', type=float, default=0.1)
    parser.add_argument('--rounds', type=int, default=9)
    args = add_common_args(parser).parse_args(argv)
    if args.smoke:
        args.n, args.rounds = 200, 1
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    a, b = (torch.randn(args.n, args.dim, generator=gen, requires_grad=True)
            for _ in range(2))
    tau = args.temperature
    with torch.no_grad():
        diff = float(official_nce(a, b, tau) - info_nce(a, b, None, tau))
    cases: Samples = side_by_side({
        'official': lambda: official_nce(a, b, tau).backward(),
        'info_nce': lambda: info_nce(a, b, None, tau).backward(),
    }, args.rounds)
    med = medians(cases)
    official, ours = med['official'], med['info_nce']
    print(f'n = {args.n}, d = {args.dim}: official {official * 1e3:.1f} ms, '
          f'info_nce {ours * 1e3:.1f} ms ({official / ours:.1f} x), '
          f'value difference {abs(diff):.1e}; x 12 terms x 30 batches: '
          f'{official * 360:.1f} s vs {ours * 360:.1f} s per epoch')
    return write_result(args.json, 'bench_nce', vars(args), cases,
                        value_difference=abs(diff))


if __name__ == '__main__':
    main()

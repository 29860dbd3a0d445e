r"""Seconds to set up the BPR sampler and to sample one epoch of
:math:`(u, i^+, i^-)` triples on Amazon-book (median over epochs).

.. code-block:: bash

    RLMREC_DATA_CACHE=/path/to/data python -m benchmarks.bench_sampler
"""
import argparse
import statistics
from typing import Dict, List, Optional

import torch

from benchmarks.common import (
    Samples,
    add_common_args,
    clock,
    describe,
    load_amazon,
    load_data,
    sampler_of,
    side_by_side,
    since,
    write_result,
)


def main(argv: Optional[List[str]] = None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--root', default=None,
                        help='dataset root (default: a temporary folder)')
    parser.add_argument('--epochs', type=int, default=20)
    args = add_common_args(parser).parse_args(argv)
    if args.smoke:
        args.epochs = 2
    torch.set_num_threads(args.threads)
    data = load_data(True) if args.smoke else load_amazon(args.root)
    print(describe(data))
    start = clock()
    sampler = sampler_of(data)
    setup_wall, setup_cpu = since(start)
    gen = torch.Generator().manual_seed(0)
    cases: Samples = side_by_side(
        {'epoch': lambda: sampler.sample(generator=gen)}, args.epochs, 0)
    cases['setup'] = {'wall_s': [setup_wall], 'cpu_s': [setup_cpu]}
    times = cases['epoch']['wall_s']
    print(f'setup {setup_wall:.4f}s, median epoch '
          f'{statistics.median(times):.4f}s (min {min(times):.4f}s, max '
          f'{max(times):.4f}s, {args.epochs} epochs)')
    return write_result(args.json, 'bench_sampler', vars(args), cases)


if __name__ == '__main__':
    main()

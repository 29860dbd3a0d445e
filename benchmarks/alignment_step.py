r"""CPU seconds of one Con alignment step (loss + backward, encoder
excluded) on Amazon-book sizes, ours vs. the official cost (every profile
projected every batch), alternated in one process so that machine noise
hits all alike. Batches are degree-skewed like Amazon's (about 3/4 of the
4096 rows unique).

.. code-block:: bash

    nice python benchmarks/alignment_step.py --sem-channels 1536 384
"""
import argparse
import statistics
import time

import torch
from alignment_speed import OfficialCostCon

from rlmrec_pyg.nn import ContrastiveAlignment

U, I, B = 11000, 9332, 4096
OFFICIAL = {'user': 'all', 'item': 'in_batch'}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--sem-channels', type=int, nargs='+',
                        default=[1536, 384])
    parser.add_argument('--repeats', type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(2)
    for sem_channels in args.sem_channels:
        g = torch.Generator().manual_seed(0)
        sem = {'user': torch.randn(U, sem_channels, generator=g),
               'item': torch.randn(I, sem_channels, generator=g)}
        z = {'user': torch.randn(U, 32, requires_grad=True),
             'item': torch.randn(I, 32, requires_grad=True)}
        user = torch.multinomial(torch.rand(U, generator=g)**4, B, True,
                                 generator=g)
        pos = torch.multinomial(torch.rand(I, generator=g)**4, B, True,
                                generator=g)
        neg = torch.randint(I, (B, ), generator=g)
        index = {'user': [user], 'item': [pos, neg]}
        mods = {
            'ours': ContrastiveAlignment(torch.nn.Identity(), sem_channels,
                                         32, 0.2, OFFICIAL),
            'official_cost': OfficialCostCon(torch.nn.Identity(),
                                             sem_channels, 32, 0.2, OFFICIAL),
            'ours_bf16': ContrastiveAlignment(torch.nn.Identity(),
                                              sem_channels, 32, 0.2,
                                              OFFICIAL, bf16=True),
            'ours_in_batch': ContrastiveAlignment(torch.nn.Identity(),
                                                  sem_channels, 32, 0.2),
        }
        times = {k: [] for k in mods}
        for _ in range(args.repeats):
            for name, mod in mods.items():
                t0 = time.process_time()
                mod.alignment_loss(z, sem, index).backward()
                times[name].append(time.process_time() - t0)
        print(f'd_s={sem_channels}: unique users {user.unique().numel()}, '
              f'items {torch.cat([pos, neg]).unique().numel()} of {B}; '
              f'median CPU s/step (first repeat dropped)')
        for name, values in times.items():
            print(f'   {name:14s} {statistics.median(values[1:]):.2f}')


if __name__ == '__main__':
    main()

r"""CPU seconds of one RLMRec-Con alignment step (loss + backward, encoder
excluded) at Amazon-book sizes: ours vs. the official cost (every profile
projected every batch), in bfloat16 and with in-batch negatives,
alternated in one process so that machine noise hits all alike. Batches
are degree-skewed like Amazon's (about 3/4 of the 4096 rows unique).

.. code-block:: bash

    nice python -m benchmarks.bench_alignment_step --sem-channels 1536 384
"""
import argparse
import statistics
from typing import Dict, List, Optional

import torch

from benchmarks.common import (
    BATCH,
    DIM,
    OfficialCostCon,
    Samples,
    add_common_args,
    clock,
    since,
    write_result,
)
from rlmrec_pyg.nn import ContrastiveAlignment
from rlmrec_pyg.typing import ITEM, USER

#: Amazon-book's users and items.
NUM_USERS, NUM_ITEMS = 11000, 9332
OFFICIAL = {USER: 'all', ITEM: 'in_batch'}


def modules(sem: int) -> Dict[str, ContrastiveAlignment]:
    r"""The compared Con losses (around no encoder)."""
    identity = torch.nn.Identity
    return {
        'ours': ContrastiveAlignment(identity(), sem, DIM, 0.2, OFFICIAL),
        'official_cost': OfficialCostCon(identity(), sem, DIM, 0.2,
                                         OFFICIAL),
        'ours_bf16': ContrastiveAlignment(identity(), sem, DIM, 0.2,
                                          OFFICIAL, bf16=True),
        'ours_in_batch': ContrastiveAlignment(identity(), sem, DIM, 0.2),
    }


def measure(sem: int, repeats: int, num_users: int, num_items: int,
            batch: int) -> Samples:
    r"""Times one loss + backward of every module, alternated; the first
    repeat is a warm-up. Keys: ``d_s=<sem>/<module>``."""
    g = torch.Generator().manual_seed(0)
    sem_dict = {USER: torch.randn(num_users, sem, generator=g),
                ITEM: torch.randn(num_items, sem, generator=g)}
    z = {USER: torch.randn(num_users, DIM, requires_grad=True),
         ITEM: torch.randn(num_items, DIM, requires_grad=True)}
    # Degree-skewed draws, as Amazon's batches.
    user = torch.multinomial(torch.rand(num_users, generator=g)**4, batch,
                             True, generator=g)
    pos = torch.multinomial(torch.rand(num_items, generator=g)**4, batch,
                            True, generator=g)
    neg = torch.randint(num_items, (batch, ), generator=g)
    index = {USER: [user], ITEM: [pos, neg]}
    mods = modules(sem)
    out: Samples = {k: {'wall_s': [], 'cpu_s': []} for k in mods}
    for r in range(repeats + 1):
        for name, mod in mods.items():
            start = clock()
            mod.alignment_loss(z, sem_dict, index).backward()
            wall, cpu = since(start)
            if r > 0:
                out[name]['wall_s'].append(wall)
                out[name]['cpu_s'].append(cpu)
    print(f'd_s={sem}: unique users {user.unique().numel()}, items '
          f'{torch.cat([pos, neg]).unique().numel()} of {batch}; median CPU '
          f's/step (first repeat dropped)')
    for name, s in out.items():
        print(f"   {name:14s} {statistics.median(s['cpu_s']):.3f}")
    return {f'd_s={sem}/{k}': s for k, s in out.items()}


def main(argv: Optional[List[str]] = None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sem-channels', type=int, nargs='+',
                        default=[1536, 384])
    parser.add_argument('--repeats', type=int, default=4)
    args = add_common_args(parser).parse_args(argv)
    sizes = (NUM_USERS, NUM_ITEMS, BATCH)
    if args.smoke:
        args.sem_channels, args.repeats, sizes = [16], 1, (200, 300, 256)
    torch.set_num_threads(args.threads)
    cases: Samples = {}
    for sem in args.sem_channels:
        cases.update(measure(sem, args.repeats, *sizes))
    return write_result(args.json, 'bench_alignment_step', vars(args),
                        cases)


if __name__ == '__main__':
    main()

r"""Where the time of one RLMRec-Con / RLMRec-Gen training step goes on
Amazon-book (random stand-in semantic vectors): :mod:`torch.profiler` over a
few full batches, operators sorted by self CPU time.

.. code-block:: bash

    RLMREC_DATA_CACHE=/work/shared/data nice python \
        benchmarks/alignment_profile.py --variant con --sem-channels 1536
"""
import argparse
import tempfile

import torch
from alignment_speed import build, run_epoch
from torch.profiler import ProfilerActivity, profile

from rlmrec_pyg.data import BPRSampler, RLMRecDataset
from rlmrec_pyg.typing import EDGE, ITEM, USER


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--variant', default='con')
    parser.add_argument('--sem-channels', type=int, default=1536)
    parser.add_argument('--batches', type=int, default=2)
    parser.add_argument('--rows', type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as root:
        data = RLMRecDataset(root, 'amazon')[0]
    sampler = BPRSampler(data[EDGE].edge_index, data[ITEM].num_nodes)
    gen = torch.Generator().manual_seed(0)
    sem_dict = {
        nt: torch.nn.functional.normalize(
            torch.randn(data[nt].num_nodes, args.sem_channels,
                        generator=gen), dim=-1)
        for nt in (USER, ITEM)
    }
    state = build(args.variant, data, args.sem_channels)
    run_epoch(state, data, sem_dict, sampler, gen, 1e-2, 1)  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run_epoch(state, data, sem_dict, sampler, gen, 1e-2, args.batches)
    print(f'{args.variant} d_s={args.sem_channels}, {args.batches} batches')
    print(prof.key_averages().table(sort_by='self_cpu_time_total',
                                    row_limit=args.rows))


if __name__ == '__main__':
    main()

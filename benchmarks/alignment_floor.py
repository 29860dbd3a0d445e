r"""The least work RLMRec-Con and RLMRec-Gen must do per LightGCN epoch on
Amazon-book, timed on this machine next to the LightGCN base epoch
(issue 5's "≤ 1.5 × base" bar at 384-d).

Only the products the faithful losses cannot skip are timed, with the
shapes of a real epoch of batches (batch 4096, official settings):

* **Con** (official negatives: batch users vs. *all* users, items
  in-batch): the projector :math:`\sigma_\downarrow` (``d_s -> h -> 32``,
  forward and its weight gradients) over all user profiles plus the batch's
  distinct items. Its weights change every step, so these rows are
  re-projected every step.
* **Gen** (mask ratio 0.15 of users + items): the generator
  :math:`\sigma_\uparrow` (``32 -> h -> d_s``, forward and backward) over the
  masked nodes, and their ``M x M`` similarity matrix of ``d_s``-wide rows
  (one product forward, one backward: the semantic side is constant).

No softmax, exponential or graph work is counted, so the real losses cost
more than this floor. ``--bf16`` runs the products in bfloat16 autocast (the
wrappers' ``bf16=True``).

.. code-block:: bash

    RLMREC_DATA_CACHE=/work/shared/data python benchmarks/alignment_floor.py
"""
import argparse
import statistics
import tempfile
from typing import List

import torch
from alignment_speed import BATCH, DIM, build, run_epoch
from official_nce_cost import timed

from rlmrec_pyg.data import BPRSampler, RLMRecDataset
from rlmrec_pyg.nn.alignment_base import _Projector
from rlmrec_pyg.typing import EDGE, ITEM, USER


def mlp_step(mlp: _Projector, x: torch.Tensor, bf16: bool) -> None:
    mlp.zero_grad()
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
        out = mlp(x)
    out.sum().backward()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--sem-channels', type=int, nargs='+',
                        default=[384, 1536])
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--bf16', action='store_true')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as root:
        data = RLMRecDataset(root, 'amazon')[0]
    num_users, num_items = data[USER].num_nodes, data[ITEM].num_nodes
    sampler = BPRSampler(data[EDGE].edge_index, num_items)
    gen = torch.Generator().manual_seed(0)
    user, pos, neg = sampler.sample(generator=gen)
    items: List[int] = [
        torch.cat([pos[s:s + BATCH], neg[s:s + BATCH]]).unique().numel()
        for s in range(0, user.numel(), BATCH)
    ]
    steps = len(items)
    masked = int(0.15 * (num_users + num_items))
    print(f'{steps} batches per epoch, {statistics.mean(items):.0f} distinct '
          f'items per batch, {masked} masked nodes (Gen)')

    base = build('base', data, 384)
    sem_dict = {}
    run_epoch(base, data, sem_dict, sampler, gen)  # warm-up
    base_s = statistics.median(
        run_epoch(base, data, sem_dict, sampler, gen)[0]
        for _ in range(args.rounds))
    print(f'LightGCN base epoch: {base_s:.2f} s '
          f'(bar 1.5 x base = {1.5 * base_s:.2f} s)')

    for d_s in args.sem_channels:
        projector = _Projector(d_s, DIM)
        rows = torch.randn(num_users + int(statistics.mean(items)), d_s)
        con = timed(lambda: mlp_step(projector, rows, args.bf16),
                    args.rounds) * steps

        generator = _Projector(DIM, d_s)
        z = torch.randn(masked, DIM, requires_grad=True)
        target = torch.randn(masked, d_s)

        def gen_step() -> None:
            generator.zero_grad()
            with torch.autocast('cpu', dtype=torch.bfloat16,
                                enabled=args.bf16):
                scores = generator(z) @ target.t()
            scores.sum().backward()

        gen_s = timed(gen_step, args.rounds) * steps
        tag = ' (bf16)' if args.bf16 else ''
        print(f'd_s = {d_s}{tag}: Con floor {con:.2f} s/epoch '
              f'({con / base_s:.1f} x base), Gen floor {gen_s:.2f} s/epoch '
              f'({gen_s / base_s:.1f} x base)')


if __name__ == '__main__':
    main()

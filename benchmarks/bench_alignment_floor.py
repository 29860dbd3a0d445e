r"""The least work RLMRec-Con and RLMRec-Gen must do per LightGCN epoch on
Amazon-book, timed on this machine next to the LightGCN base epoch
(issue 5's "at most 1.5 x base" bar at 384-d).

Only the products the faithful losses cannot skip are timed, with the
shapes of a real epoch of batches (batch 4096, official settings):

* **Con** (official negatives: batch users vs. *all* users, items
  in-batch): the projector :math:`\sigma_\downarrow` (``d_s -> h -> 32``,
  forward and its weight gradients) over all user profiles plus the batch's
  distinct items. Its weights change every step, so these rows are
  re-projected every step.
* **Gen** (mask ratio 0.15 of users + items): the generator
  :math:`\sigma_\uparrow` (``32 -> h -> d_s``, forward and backward) over
  the masked nodes, and their ``M x M`` similarity matrix of ``d_s``-wide
  rows (one product forward, one backward: the semantic side is constant).

No softmax, exponential or graph work is counted, so the real losses cost
more than this floor. :obj:`--bf16` runs the products in bfloat16 autocast
(the wrappers' :obj:`bf16=True`).

.. code-block:: bash

    RLMREC_DATA_CACHE=/path/to/data python -m \
        benchmarks.bench_alignment_floor [--bf16]
"""
import argparse
import statistics
from typing import Dict, List, Optional

import torch

from benchmarks.bench_alignment import Epoch
from benchmarks.common import (
    BATCH,
    DIM,
    Samples,
    add_common_args,
    describe,
    load_data,
    median_time,
    sampler_of,
    write_result,
)
from rlmrec_pyg.nn import ContrastiveAlignment, MaskedGenerativeAlignment
from rlmrec_pyg.typing import ITEM, USER


def mlp_step(mlp: torch.nn.Module, x: torch.Tensor, bf16: bool) -> None:
    r"""Forward and backward of :obj:`mlp` on :obj:`x`."""
    mlp.zero_grad()
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
        out = mlp(x)
    out.sum().backward()


def main(argv: Optional[List[str]] = None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sem-channels', type=int, nargs='+',
                        default=[384, 1536])
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--bf16', action='store_true')
    args = add_common_args(parser).parse_args(argv)
    if args.smoke:
        args.sem_channels, args.rounds = [16], 1
    torch.set_num_threads(args.threads)
    data = load_data(args.smoke)
    print(describe(data))
    num_users, num_items = data[USER].num_nodes, data[ITEM].num_nodes
    sampler = sampler_of(data)
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

    base = Epoch('base', data, 384)
    base.run(sampler, gen)  # warm-up
    base_s = statistics.median(
        base.run(sampler, gen)[0] for _ in range(args.rounds))
    print(f'LightGCN base epoch: {base_s:.2f} s '
          f'(bar 1.5 x base = {1.5 * base_s:.2f} s)')
    floors: Dict[str, float] = {'base': base_s}
    for d_s in args.sem_channels:
        identity = torch.nn.Identity()
        projector = ContrastiveAlignment(identity, d_s, DIM).projector
        rows = torch.randn(num_users + int(statistics.mean(items)), d_s)
        con = median_time(lambda: mlp_step(projector, rows, args.bf16),
                          args.rounds) * steps

        generator = MaskedGenerativeAlignment(identity, DIM, d_s,
                                              DIM).projector
        z = torch.randn(masked, DIM, requires_grad=True)
        target = torch.randn(masked, d_s)

        def gen_step() -> None:
            generator.zero_grad()
            with torch.autocast('cpu', dtype=torch.bfloat16,
                                enabled=args.bf16):
                scores = generator(z) @ target.t()
            scores.sum().backward()

        gen_s = median_time(gen_step, args.rounds) * steps
        floors.update({f'd_s={d_s}/con_floor': con,
                       f'd_s={d_s}/gen_floor': gen_s})
        tag = ' (bf16)' if args.bf16 else ''
        print(f'd_s = {d_s}{tag}: Con floor {con:.2f} s/epoch '
              f'({con / base_s:.1f} x base), Gen floor {gen_s:.2f} s/epoch '
              f'({gen_s / base_s:.1f} x base)')
    # Medians only (s/epoch): one value per case.
    cases: Samples = {k: {'wall_s': [v], 'cpu_s': []}
                      for k, v in floors.items()}
    return write_result(args.json, 'bench_alignment_floor', vars(args),
                        cases)


if __name__ == '__main__':
    main()

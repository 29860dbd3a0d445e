r"""The least work RLMRec-Con and RLMRec-Gen must do per LightGCN epoch on
Amazon-book, timed on this machine in the same run as the real epochs
(issue 18: each alignment epoch at most 1.5 x its complete floor).

The shapes are those of a real epoch of batches (batch 4096, official
settings): the distinct users and items of every batch of one sampled
epoch, the masked set of RLMRec-Gen (ratio 0.15 of users + items). Two
floors are timed alone, per batch, and multiplied by the batches of an
epoch:

* **GEMM floor** (the products only). Con: the projector
  :math:`\sigma_\downarrow` (``d_s -> h -> 32``, forward and its weight
  gradients) over the rows the loss needs: all user profiles plus the
  batch's distinct items (official negatives), or the batch's distinct
  users and items (in-batch). Its weights change every step, so these rows
  are re-projected every step. Gen: the generator :math:`\sigma_\uparrow`
  (``32 -> h -> d_s``, forward and backward) over the masked nodes, and
  their ``M x M`` similarity product of ``d_s``-wide rows (forward, and the
  backward product for the generated side; the semantic side is constant).
* **Complete floor**: the GEMM floor plus what the exact InfoNCE cannot
  skip on top: every group's score product (Con: ``32``-wide), **one**
  exponential of every score, the row sums, and the backward products of
  the exponentials with both sides (Con) or the generated side (Gen).
  Nothing else (no maxima, logarithms of rows, normalisation, indexing or
  graph work).

A variant's floor epoch is the LightGCN base epoch of its depth (3 layers
for Con, 2 for Gen, as the official ymls) plus its complete floor; the
real epochs (the library's loop, as :mod:`benchmarks.bench_alignment`)
run in the same process, interleaved with the floors round by round.
Printed per variant: epoch / floor epoch, and the alignment's own share
(epoch - base) / complete floor; :obj:`--floors-only` skips the
alignment epochs.

.. code-block:: bash

    RLMREC_DATA_CACHE=/path/to/data python -m \
        benchmarks.bench_alignment_floor --sem-channels 384 1536 --rounds 3
"""
import argparse
import statistics
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor

from benchmarks.bench_alignment import Epoch
from benchmarks.common import (
    BATCH,
    DIM,
    Samples,
    add_common_args,
    attach_stand_in,
    describe,
    load_data,
    sampler_of,
    side_by_side,
    write_result,
)
from rlmrec_pyg.nn import ContrastiveAlignment, MaskedGenerativeAlignment
from rlmrec_pyg.typing import ITEM, USER

#: The epochs timed beside the floors, and the base epoch of each.
EPOCHS = {'con': 'base', 'con_in_batch': 'base', 'gen': 'base_l2'}
#: Gen's mask ratio (official amazon ``lightgcn_gene``).
MASK_RATIO = 0.15


def mlp_step(mlp: torch.nn.Module, x: Tensor) -> Tensor:
    r"""Forward of :obj:`mlp` on :obj:`x` whose backward, through the
    returned output, is left to the caller."""
    mlp.zero_grad()
    return mlp(x)


def contrast(query: Tensor, key: Tensor, key_grad: bool,
             buf: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
    r"""The InfoNCE work no exact implementation can skip, for one group:
    the scores :math:`\mathbf{Q}\mathbf{K}^\top` (into :obj:`buf`), one
    exponential each, the row sums, and the gradient products
    :math:`\mathbf{E}\mathbf{K}` and (with :obj:`key_grad`)
    :math:`\mathbf{E}^\top\mathbf{Q}`."""
    torch.mm(query, key.t(), out=buf)
    buf.exp_().sum(dim=1)
    return buf.mm(key), buf.t().mm(query) if key_grad else None


class Shapes:
    r"""The per-batch sizes of one sampled epoch of Amazon-book."""
    def __init__(self, data, generator: torch.Generator) -> None:
        user, pos, neg = sampler_of(data).sample(generator=generator)
        starts = range(0, user.numel(), BATCH)

        def mean(f: Callable[[int], int]) -> int:
            return round(statistics.mean(f(s) for s in starts))

        def uniq(t: Tensor, s: int) -> int:
            return int(t[s:s + BATCH].unique().numel())

        self.steps = len(starts)
        self.num_users = data[USER].num_nodes
        self.num_items = data[ITEM].num_nodes
        self.users = mean(lambda s: uniq(user, s))
        self.pos = mean(lambda s: uniq(pos, s))
        self.neg = mean(lambda s: uniq(neg, s))
        self.items = mean(lambda s: int(torch.cat(
            [pos[s:s + BATCH], neg[s:s + BATCH]]).unique().numel()))
        self.masked = int(MASK_RATIO * (self.num_users + self.num_items))

    def __str__(self) -> str:
        return (f'{self.steps} batches per epoch; per batch (means): '
                f'{self.users} distinct users, {self.pos} positive / '
                f'{self.neg} negative / {self.items} distinct items; Gen '
                f'masks {self.masked} nodes')


def con_floors(sem: int, shapes: Shapes, official: bool
               ) -> Dict[str, Callable[[], None]]:
    r"""One batch of Con's GEMM floor and complete floor; official
    negatives (users against all users, items in-batch) or in-batch."""
    projector = ContrastiveAlignment(torch.nn.Identity(), sem,
                                     DIM).projector
    users = shapes.num_users if official else shapes.users
    items = shapes.items
    # Projected rows: [users | distinct items]; the positive group's
    # candidates are the first items, the negative group's the last ones.
    rows = torch.randn(users + items, sem)
    groups = [(shapes.users, slice(0, users)),
              (shapes.pos, slice(users, users + shapes.pos)),
              (shapes.neg, slice(users + items - shapes.neg, users + items))]
    query = [torch.randn(n, DIM) for n, _ in groups]
    bufs = [torch.empty(n, c.stop - c.start) for n, c in groups]

    def gemm() -> None:
        mlp_step(projector, rows).sum().backward()

    def complete() -> None:
        key = mlp_step(projector, rows)
        k, grad = key.detach(), torch.zeros_like(key)
        for q, (_, cand), buf in zip(query, groups, bufs):
            grad[cand] += contrast(q, k[cand], True, buf)[1]
        key.backward(grad)

    return {'gemm': gemm, 'complete': complete}


def gen_floors(sem: int, shapes: Shapes) -> Dict[str, Callable[[], None]]:
    r"""One batch of Gen's GEMM floor and complete floor over the masked
    nodes."""
    generator = MaskedGenerativeAlignment(torch.nn.Identity(), DIM, sem,
                                          DIM).projector
    z = torch.randn(shapes.masked, DIM, requires_grad=True)
    target = torch.randn(shapes.masked, sem)
    buf = torch.empty(shapes.masked, shapes.masked)

    def gemm() -> None:
        (mlp_step(generator, z) @ target.t()).sum().backward()

    def complete() -> None:
        pred = mlp_step(generator, z)
        grad, _ = contrast(pred.detach(), target, False, buf)
        pred.backward(grad)

    return {'gemm': gemm, 'complete': complete}


def main(argv: Optional[List[str]] = None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sem-channels', type=int, nargs='+',
                        default=[384, 1536])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--floors-only', action='store_true',
                        help='time the floors and the base epochs only')
    args = add_common_args(parser).parse_args(argv)
    if args.smoke:
        args.sem_channels, args.rounds = [16], 1
    torch.set_num_threads(args.threads)
    data = load_data(args.smoke)
    print(describe(data))
    gen = torch.Generator().manual_seed(0)
    shapes = Shapes(data, gen)
    print(shapes)
    cases: Samples = {}
    summary: Dict[str, Dict[str, float]] = {}
    for sem in args.sem_channels:
        attach_stand_in(data, sem, gen)
        sampler = sampler_of(data)
        torch.manual_seed(0)
        names = ['base', 'base_l2'] + ([] if args.floors_only else
                                       list(EPOCHS))
        epochs = {v: Epoch(v, data, sem) for v in names}
        floors = {'con': con_floors(sem, shapes, True),
                  'con_in_batch': con_floors(sem, shapes, False),
                  'gen': gen_floors(sem, shapes)}
        timed: Dict[str, Callable[[], None]] = {
            f'epoch/{v}': (lambda e=e: e.run(sampler, gen))
            for v, e in epochs.items()}
        for v, fs in floors.items():
            for kind, fn in fs.items():
                timed[f'{kind}_floor/{v}'] = fn
        samples = side_by_side(timed, args.rounds, report=_report(sem))
        summary[f'd_s={sem}'] = _summarise(samples, shapes, sem)
        cases.update({f'd_s={sem}/{k}': v for k, v in samples.items()})
    return write_result(args.json, 'bench_alignment_floor', vars(args),
                        cases, summary=summary, shapes=vars(shapes))


def _report(sem: int) -> Callable[[int, str, float, float], None]:
    def report(r: int, name: str, wall: float, cpu: float) -> None:
        print(f'[d_s={sem}] round {r}: {name} {wall:.3f} s', flush=True)
    return report


def _summarise(samples: Samples, shapes: Shapes,
               sem: int) -> Dict[str, float]:
    med = {k: statistics.median(v['wall_s']) for k, v in samples.items()}
    out: Dict[str, float] = {}
    print(f'== d_s={sem}: medians, s / epoch ({shapes.steps} batches)')
    for v in ('base', 'base_l2'):
        out[v] = med[f'epoch/{v}']
        print(f'   {v:13s} epoch {out[v]:7.2f}')
    for v, base in EPOCHS.items():
        gemm = med[f'gemm_floor/{v}'] * shapes.steps
        full = med[f'complete_floor/{v}'] * shapes.steps
        out[f'{v}/gemm_floor'], out[f'{v}/complete_floor'] = gemm, full
        line = (f'   {v:13s} GEMM floor {gemm:6.2f}, complete floor '
                f'{full:6.2f}, floor epoch {out[base] + full:6.2f}')
        if f'epoch/{v}' in med:
            epoch = out[v] = med[f'epoch/{v}']
            out[f'{v}/x_floor_epoch'] = epoch / (out[base] + full)
            out[f'{v}/x_complete_floor'] = (epoch - out[base]) / full
            line += (f'; epoch {epoch:6.2f} = '
                     f'{out[f"{v}/x_floor_epoch"]:.2f} x floor epoch, '
                     f'alignment {out[f"{v}/x_complete_floor"]:.2f} x '
                     f'complete floor')
        print(line)
    return out


if __name__ == '__main__':
    main()

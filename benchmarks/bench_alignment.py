r"""Seconds per training epoch of LightGCN base vs. RLMRec-Con vs.
RLMRec-Gen on Amazon-book (the paper's Table 4 for one backbone; issue 5's
speed bars), with random stand-in semantic vectors. Formerly
``alignment_speed.py``.

All variants run side by side, one epoch each per round (so machine noise
hits all of them alike); the median over rounds is reported, in wall
seconds and in CPU seconds of the process. Settings are the official
amazon ymls: batch 4096, Adam 1e-3, L2 (weight 1e-7) over all parameters,
alignment weight 1e-2, LightGCN edge keep 0.8; Con: L=3, users vs. all
users, items in-batch (``*_plus``); Gen: L=2, mask ratio 0.15
(``lightgcn_gene``). The loop is the library's
:func:`~rlmrec_pyg.train.train_epoch`.

Variants: :obj:`base`, :obj:`con` (official negatives),
:obj:`con_official_cost` (the same loss computed the official way),
:obj:`con_in_batch`, :obj:`gen`, :obj:`gen_l3` (Gen on 3 layers), and
:obj:`*_bf16` (bfloat16 autocast of the projector / generator), and
:obj:`base_l2` (the base on 2 layers, Gen's depth).
:obj:`--batches N` times N batches per epoch and scales to the whole epoch
(sampling included); :obj:`--profile` prints where one epoch's time goes
(:mod:`torch.profiler`, operators by self CPU time).

.. code-block:: bash

    RLMREC_DATA_CACHE=/path/to/data nice python -m \
        benchmarks.bench_alignment --sem-channels 1536 384 --rounds 8
"""
import argparse
import statistics
from typing import Dict, List, Optional, Tuple

import torch
from torch_geometric.data import HeteroData

from benchmarks.common import (
    BATCH,
    DIM,
    OfficialCostCon,
    Samples,
    add_common_args,
    attach_stand_in,
    clock,
    describe,
    load_data,
    sampler_of,
    since,
    write_result,
)
from rlmrec_pyg.data import BPRSampler
from rlmrec_pyg.nn import (
    ContrastiveAlignment,
    LightGCN,
    MaskedGenerativeAlignment,
    NodeEmbedding,
    Recommender,
)
from rlmrec_pyg.train import train_epoch
from rlmrec_pyg.typing import EDGE, ITEM, USER

VARIANTS = ['base', 'con', 'con_official_cost', 'con_in_batch', 'gen',
            'con_bf16', 'gen_bf16']
#: Every variant :func:`build_encoder` knows (the defaults and more).
KNOWN = VARIANTS + ['gen_l3', 'base_l2']
#: Official amazon weights: L2 1e-7 (all parameters), alignment 1e-2.
WEIGHTS = {'reg': 1e-7, 'align': 1e-2}


class Truncated:
    r"""A :class:`~rlmrec_pyg.data.BPRSampler` whose epochs stop after
    :obj:`num_triples` triples (a whole epoch is still drawn)."""
    def __init__(self, sampler: BPRSampler, num_triples: int) -> None:
        self.sampler, self.num_triples = sampler, num_triples

    def sample(self, generator: Optional[torch.Generator] = None
               ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        user, pos, neg = self.sampler.sample(generator=generator)
        n = self.num_triples
        return user[:n], pos[:n], neg[:n]


def build_encoder(variant: str, sem: int) -> torch.nn.Module:
    r"""The encoder of :obj:`variant`: LightGCN, wrapped by Con or Gen."""
    if variant not in KNOWN:
        raise ValueError(f"Unknown variant '{variant}' in '--variants' "
                         f"(choose from {KNOWN})")
    layers = 2 if variant in ('base_l2', 'gen', 'gen_bf16') else 3
    encoder = LightGCN(DIM, num_layers=layers, edge_drop_rate=0.2)
    bf16 = variant.endswith('bf16')
    if variant.startswith('con'):
        neg = 'in_batch' if 'in_batch' in variant else {
            USER: 'all', ITEM: 'in_batch'}
        cls = (OfficialCostCon
               if 'official' in variant else ContrastiveAlignment)
        return cls(encoder, sem, DIM, 0.2, neg, bf16=bf16)
    if variant.startswith('gen'):
        return MaskedGenerativeAlignment(encoder, DIM, sem, DIM, 0.15, 0.5,
                                         bf16=bf16)
    return encoder


class Epoch:
    r"""One epoch of the library's loop for one variant: its
    :class:`~rlmrec_pyg.nn.Recommender` and Adam state."""
    def __init__(self, variant: str, data: HeteroData, sem: int) -> None:
        embedding = NodeEmbedding(
            {nt: data[nt].num_nodes
             for nt in (USER, ITEM)}, DIM)
        self.model = Recommender(build_encoder(variant, sem), data,
                                 embedding=embedding)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.data = data
        self.terms: Dict[str, float] = {}  # of the last epoch

    def run(self, sampler: BPRSampler, generator: torch.Generator,
            max_batches: Optional[int] = None) -> Tuple[float, float]:
        r"""Returns (wall seconds, CPU seconds) of one epoch; with
        :obj:`max_batches`, of that many batches scaled to the epoch
        (sampling included)."""
        num = self.data[EDGE].edge_index.size(1)  # triples per epoch
        scale = 1.0
        if max_batches is not None and max_batches * BATCH < num:
            scale = num / (max_batches * BATCH)
            sampler = Truncated(sampler, max_batches * BATCH)
        start = clock()
        self.terms = train_epoch(self.model, self.data, self.optimizer,
                                 sampler, BATCH, WEIGHTS, 'all', generator)
        wall, cpu = since(start)
        return wall * scale, cpu * scale


def profile(epoch: Epoch, sampler: BPRSampler, generator: torch.Generator,
            max_batches: Optional[int], rows: int) -> str:
    r"""The :mod:`torch.profiler` table of one (partial) epoch."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as tprofile
    with tprofile(activities=[ProfilerActivity.CPU]) as prof:
        epoch.run(sampler, generator, max_batches)
    return prof.key_averages().table(sort_by='self_cpu_time_total',
                                     row_limit=rows)


def measure(data: HeteroData, sem: int, variants: List[str], rounds: int,
            batches: Optional[int], warmup_batches: int = 2
            ) -> Tuple[Samples, Dict[str, Epoch], BPRSampler]:
    r"""Times every variant side by side at :obj:`sem`-wide vectors and
    prints one line per round. Returns the samples (keys
    ``d_s=<sem>/<variant>``), the variants' epochs and the sampler."""
    gen = torch.Generator().manual_seed(0)
    attach_stand_in(data, sem, gen)
    sampler = sampler_of(data)
    torch.manual_seed(0)
    epochs = {v: Epoch(v, data, sem) for v in variants}
    for v in variants:  # warm-up, not timed
        epochs[v].run(sampler, gen, warmup_batches)
    out: Samples = {v: {'wall_s': [], 'cpu_s': []} for v in variants}
    for r in range(rounds):
        for v in variants:
            wall, cpu = epochs[v].run(sampler, gen, batches)
            out[v]['wall_s'].append(wall)
            out[v]['cpu_s'].append(cpu)
        print(f'[d_s={sem}] round {r}: ' + ', '.join(
            f"{v} {out[v]['wall_s'][-1]:.2f}s/{out[v]['cpu_s'][-1]:.2f}cpu"
            for v in variants), flush=True)
    return {f'd_s={sem}/{v}': s for v, s in out.items()}, epochs, sampler


def summary(samples: Samples, sem: int, variants: List[str],
            rounds: int) -> None:
    print(f'== d_s={sem}: medians over {rounds} rounds; wall s/epoch '
          f'and CPU s/epoch (all threads of this process)')
    med = {key: {v: statistics.median(samples[f'd_s={sem}/{v}'][key])
                 for v in variants} for key in ('wall_s', 'cpu_s')}
    for v in variants:
        mw, mc = med['wall_s'][v], med['cpu_s'][v]
        bw = med['wall_s'].get('base', mw)
        bc = med['cpu_s'].get('base', mc)
        print(f'   {v:18s} wall {mw:7.2f} ({mw / bw:.2f} x base)   '
              f'cpu {mc:7.2f} ({mc / bc:.2f} x base)')


def main(argv: Optional[List[str]] = None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sem-channels', type=int, nargs='+',
                        default=[1536, 384])
    parser.add_argument('--variants', nargs='+', default=VARIANTS)
    parser.add_argument('--rounds', type=int, default=8)
    parser.add_argument('--batches', type=int, default=None,
                        help='time this many batches per epoch and scale '
                        '(for busy machines)')
    parser.add_argument('--profile', action='store_true')
    parser.add_argument('--rows', type=int, default=8,
                        help='operators per profile table')
    args = add_common_args(parser).parse_args(argv)
    if args.smoke:
        args.sem_channels, args.rounds, args.batches = [16], 1, 1
    torch.set_num_threads(args.threads)
    data = load_data(args.smoke)
    print(describe(data))
    cases: Samples = {}
    terms: Dict[str, Dict[str, float]] = {}  # of each case's last epoch
    for sem in args.sem_channels:
        samples, epochs, sampler = measure(data, sem, args.variants,
                                           args.rounds, args.batches)
        cases.update(samples)
        terms.update({f'd_s={sem}/{v}': e.terms for v, e in epochs.items()})
        summary(cases, sem, args.variants, args.rounds)
        if args.profile:
            gen = torch.Generator().manual_seed(1)
            for v in args.variants:
                print(f'--- profile {v} d_s={sem}')
                print(profile(epochs[v], sampler, gen, args.batches,
                              args.rows))
    return write_result(args.json, 'bench_alignment', vars(args), cases,
                        terms=terms)


if __name__ == '__main__':
    main()

r"""Seconds per training epoch of LightGCN base vs. RLMRec-Con vs. RLMRec-Gen
on Amazon-book (paper Table 4; issue 5 speed bars), with random
stand-in semantic vectors (the official ada-002 vectors are not public).

All variants run side by side, one epoch each per round (so machine noise
hits all of them alike); the median over rounds is reported. Settings are
the official amazon ymls: batch 4096, Adam 1e-3, L2 reg over all
parameters, LightGCN edge keep 0.8; Con: L=3, users vs all users, items vs
in-batch (``*_plus``); Gen: L=2, mask ratio 0.15 (``lightgcn_gene``).

.. code-block:: bash

    RLMREC_DATA_CACHE=/work/shared/data nice python \
        benchmarks/alignment_speed.py --sem-channels 1536 384 --rounds 8
"""
import argparse
import os
import statistics
import tempfile
import time
from typing import Dict, List, Optional, Tuple

import torch

from rlmrec_pyg.data import BPRSampler, RLMRecDataset
from rlmrec_pyg.nn import (
    ContrastiveAlignment,
    MaskedGenerativeAlignment,
    bpr_loss,
    info_nce,
    l2_reg,
)
from rlmrec_pyg.nn.embedding import NodeEmbedding
from rlmrec_pyg.nn.models import LightGCN
from rlmrec_pyg.typing import EDGE, ITEM, USER

BATCH, DIM = 4096, 32


class OfficialCostCon(ContrastiveAlignment):
    r"""The same loss as :class:`ContrastiveAlignment`, computed the
    official way: every batch projects **all** user and item profiles and
    then indexes them (docs/parity.md#contrastive-projection-cost). A
    side-by-side cost reference."""
    def _group_losses(self, nt, z, sem, groups):
        key = self.projector(sem)  # all rows, as *_plus.py
        if self.negatives_of(nt) == 'all':
            return [info_nce(z[i], key, i, self.temperature) for i in groups]
        return [info_nce(z[i], key[i], None, self.temperature) for i in groups]


def build(variant: str, data, sem: int) -> Dict:
    num = {USER: data[USER].num_nodes, ITEM: data[ITEM].num_nodes}
    layers = 2 if variant.startswith('gen') and variant != 'gen_l3' else 3
    encoder = LightGCN(DIM, num_layers=layers, edge_drop_rate=0.2)
    bf16 = variant.endswith('bf16')
    if variant.startswith('con'):
        neg = 'in_batch' if 'in_batch' in variant else {
            USER: 'all', ITEM: 'in_batch'}
        cls = OfficialCostCon if 'official' in variant else \
            ContrastiveAlignment
        model = cls(encoder, sem, DIM, 0.2, neg, bf16=bf16)
    elif variant.startswith('gen'):
        model = MaskedGenerativeAlignment(encoder, DIM, sem, DIM, 0.15, 0.5,
                                          bf16=bf16)
    else:
        model = encoder
    embedding = NodeEmbedding(num, DIM)
    params = list(embedding.parameters()) + list(model.parameters())
    return dict(model=model, embedding=embedding, params=params,
                optim=torch.optim.Adam(params, lr=1e-3), num=num)


def run_epoch(state: Dict, data, sem_dict, sampler: BPRSampler,
              gen: torch.Generator, weight: float = 1e-2,
              max_batches: Optional[int] = None) -> Tuple[float, float]:
    r"""Returns (wall seconds, CPU seconds of this process) of one epoch;
    with :obj:`max_batches`, the time of that many full batches scaled to
    the epoch's number of batches (sampling included)."""
    model, embedding = state['model'], state['embedding']
    model.train()
    t0, c0 = time.perf_counter(), time.process_time()
    user_all, pos_all, neg_all = sampler.sample(generator=gen)
    starts = list(range(0, user_all.numel(), BATCH))
    scale = 1.0
    if max_batches is not None and max_batches < len(starts):
        scale = user_all.numel() / (max_batches * BATCH)
        starts = starts[:max_batches]
    for start in starts:
        user = user_all[start:start + BATCH]
        pos = pos_all[start:start + BATCH]
        neg = neg_all[start:start + BATCH]
        state['optim'].zero_grad()
        x_dict = embedding()
        if hasattr(model, 'sample_mask'):
            index = model.sample_mask(state['num'], generator=gen)
            z = model(x_dict, data.edge_index_dict, index)
        else:
            z = model(x_dict, data.edge_index_dict)
            index = {USER: [user], ITEM: [pos, neg]}
        u = z[USER][user]
        loss = bpr_loss((u * z[ITEM][pos]).sum(-1),
                        (u * z[ITEM][neg]).sum(-1))
        loss = loss + l2_reg(state['params'], 1e-7)
        if hasattr(model, 'alignment_loss'):
            loss = loss + weight * model.alignment_loss(z, sem_dict, index)
        loss.backward()
        state['optim'].step()
    return ((time.perf_counter() - t0) * scale,
            (time.process_time() - c0) * scale)


def profile(state: Dict, data, sem_dict, sampler, gen) -> str:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as tprofile
    with tprofile(activities=[ProfilerActivity.CPU]) as prof:
        run_epoch(state, data, sem_dict, sampler, gen)
    return prof.key_averages().table(sort_by='self_cpu_time_total',
                                     row_limit=8)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--sem-channels', type=int, nargs='+',
                        default=[1536, 384])
    parser.add_argument('--variants', nargs='+', default=[
        'base', 'con', 'con_official_cost', 'con_in_batch', 'gen', 'con_bf16',
        'gen_bf16'])
    parser.add_argument('--rounds', type=int, default=8)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--batches', type=int, default=None,
                        help='time this many batches per epoch and scale '
                        '(for busy machines)')
    parser.add_argument('--profile', action='store_true')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as root:
        data = RLMRecDataset(root, 'amazon')[0]
    sampler = BPRSampler(data[EDGE].edge_index, data[ITEM].num_nodes)
    print(f'torch {torch.__version__}, threads {torch.get_num_threads()}, '
          f'cpu {os.cpu_count()}, users {data[USER].num_nodes}, items '
          f'{data[ITEM].num_nodes}, train {data[EDGE].edge_index.size(1)}')
    for sem in args.sem_channels:
        gen = torch.Generator().manual_seed(0)
        sem_dict = {
            nt: torch.nn.functional.normalize(
                torch.randn(data[nt].num_nodes, sem, generator=gen), dim=-1)
            for nt in (USER, ITEM)
        }
        torch.manual_seed(0)
        states = {v: build(v, data, sem) for v in args.variants}
        wall: Dict[str, List[float]] = {v: [] for v in args.variants}
        cpu: Dict[str, List[float]] = {v: [] for v in args.variants}
        for v in args.variants:  # warm-up epoch, not timed
            run_epoch(states[v], data, sem_dict, sampler, gen, 1e-2, 2)
        for r in range(args.rounds):
            for v in args.variants:
                w, c = run_epoch(states[v], data, sem_dict, sampler, gen,
                                 1e-2, args.batches)
                wall[v].append(w)
                cpu[v].append(c)
            print(f'[d_s={sem}] round {r}: ' + ', '.join(
                f'{v} {wall[v][-1]:.2f}s/{cpu[v][-1]:.2f}cpu'
                for v in args.variants), flush=True)
        print(f'== d_s={sem}: medians over {args.rounds} rounds; wall s/epoch '
              f'and CPU s/epoch (all threads of this process)')
        for v in args.variants:
            mw, mc = statistics.median(wall[v]), statistics.median(cpu[v])
            bw = statistics.median(wall.get('base', wall[v]))
            bc = statistics.median(cpu.get('base', cpu[v]))
            print(f'   {v:18s} wall {mw:7.2f} ({mw / bw:.2f} x base)   '
                  f'cpu {mc:7.2f} ({mc / bc:.2f} x base)')
        if args.profile:
            for v in args.variants:
                print(f'--- profile {v} d_s={sem}')
                print(profile(states[v], data, sem_dict, sampler, gen))


if __name__ == '__main__':
    main()

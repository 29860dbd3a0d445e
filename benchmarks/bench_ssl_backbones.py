r"""Seconds per training epoch of the six backbones x {Base, Con, Gen} on
Amazon-book (paper RQ5 / Table 4 layout), with random 1536-d stand-in
semantic vectors (the official ada-002 vectors are not public).

Every variant uses its official amazon yml (``conf/experiment/*_amazon``):
batch 4096, Adam 1e-3, L2 over all parameters, and each backbone's own SSL
objective. The loop is the library's :func:`~rlmrec_pyg.train.train_epoch`, the
official one including the AutoCF protocol
(docs/parity.md#autocf-graph-sampling): every
``resample_every`` batches ``sample_graph`` + infomax,
``recommendation_loss`` instead of BPR, and the SSL term on the masked
input for Gen. All variants run one epoch per round,
interleaved (machine noise hits all alike); the median is reported, as wall
seconds and as process CPU seconds (on a loaded shared machine, CPU seconds
with ``--threads 1`` approximate the uncontended single-thread wall time).

.. code-block:: bash

    RLMREC_DATA_CACHE=/work/shared/data nice -n 10 python \
        benchmarks/bench_ssl_backbones.py --rounds 3
"""
import argparse
import os
import statistics
import tempfile
import time
from typing import Dict, List

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from torch_geometric.data import HeteroData

from rlmrec_pyg.data import BPRSampler, RLMRecDataset
from rlmrec_pyg.nn import NodeEmbedding
from rlmrec_pyg.train import train_epoch
from rlmrec_pyg.train.run import _build_model
from rlmrec_pyg.typing import EDGE, ITEM, USER

CONF = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                    'conf')
BACKBONES = ['gccf', 'lightgcn', 'sgl', 'simgcl', 'dccf', 'autocf']
VARIANTS = ['base', 'contrastive', 'generative']


class SSLEpoch:
    r"""One epoch of the library's loop (:func:`rlmrec_pyg.train.train_epoch`,
    every SSL / AutoCF hook included) with the state of one variant."""
    def __init__(self, model: torch.nn.Module, embedding: NodeEmbedding,
                 data: HeteroData, optimizer: torch.optim.Optimizer,
                 lambda_reg: float, alignment_weight: float = 0.0) -> None:
        self.model, self.embedding, self.data = model, embedding, data
        self.optimizer, self.lambda_reg = optimizer, lambda_reg
        self.alignment_weight = alignment_weight

    def run(self, sampler: BPRSampler, generator: torch.Generator,
            batch_size: int = 4096) -> float:
        return train_epoch(self.model, self.embedding, self.data,
                           self.optimizer, sampler, batch_size,
                           self.lambda_reg, 'all', self.alignment_weight,
                           generator)['loss']


def experiment(name: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base='1.3', config_dir=CONF):
        cfg = compose('train', overrides=[f'experiment={name}'])
    GlobalHydra.instance().clear()
    return cfg


def build(name: str, data: HeteroData) -> SSLEpoch:
    cfg = experiment(name)
    dim = int(cfg.model.embedding_dim)
    embedding = NodeEmbedding({nt: data[nt].num_nodes
                               for nt in (USER, ITEM)}, dim)
    model = _build_model(cfg, data, dim)
    device = data[EDGE].edge_index.device
    model, embedding = model.to(device), embedding.to(device)
    params = list(model.parameters()) + list(embedding.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-3)
    weight = float(cfg.alignment.weight) if cfg.get('alignment') else 0.0
    return SSLEpoch(model, embedding, data, optimizer,
                    float(cfg.trainer.lambda_reg), weight)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--backbones', nargs='+', default=BACKBONES)
    parser.add_argument('--variants', nargs='+', default=VARIANTS)
    parser.add_argument('--sem-channels', type=int, default=1536)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as root:
        data = RLMRecDataset(root, 'amazon')[0]
    gen = torch.Generator().manual_seed(0)
    for nt in (USER, ITEM):
        data[nt].sem_emb = torch.nn.functional.normalize(
            torch.randn(data[nt].num_nodes, args.sem_channels, generator=gen),
            dim=-1)
    data = data.to(args.device)
    sampler = BPRSampler(data[EDGE].edge_index, data[ITEM].num_nodes)
    print(f'torch {torch.__version__}, threads {torch.get_num_threads()}, '
          f'users {data[USER].num_nodes}, items {data[ITEM].num_nodes}, '
          f'train {data[EDGE].edge_index.size(1)}, d_s {args.sem_channels}')
    torch.manual_seed(0)
    names = [f'{b}_{v}_amazon' for b in args.backbones for v in args.variants]
    loops = {n: build(n, data) for n in names}
    times: Dict[str, List[float]] = {n: [] for n in names}
    cpu: Dict[str, List[float]] = {n: [] for n in names}
    for r in range(-args.warmup, args.rounds):  # r < 0: warm-up, untimed
        for n in names:
            t0, c0 = time.perf_counter(), time.process_time()
            loss = loops[n].run(sampler, gen)
            if r >= 0:
                times[n].append(time.perf_counter() - t0)
                cpu[n].append(time.process_time() - c0)
                print(f'round {r} {n}: {times[n][-1]:.2f} s wall, '
                      f'{cpu[n][-1]:.2f} s cpu (loss {loss:.4f})', flush=True)
    for label, table in (('wall', times), ('cpu', cpu)):
        print(f'== median {label} s/epoch over {args.rounds} rounds '
              f'({" / ".join(args.variants)})')
        for b in args.backbones:
            row = [
                statistics.median(table[f'{b}_{v}_amazon'])
                for v in args.variants
            ]
            print(f'{b:10s} ' + ' / '.join(f'{t:6.2f}' for t in row))


if __name__ == '__main__':
    main()

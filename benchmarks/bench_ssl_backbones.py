r"""Seconds per training epoch of the six backbones x {Base, Con, Gen} on
Amazon-book (the paper's RQ5 / Table 4 layout), with random 1536-d stand-in
semantic vectors (the official ada-002 vectors are not public).

Every variant is built from its official amazon config
(``conf/experiment/<backbone>_<variant>_amazon.yaml``): batch 4096, Adam
1e-3, L2 over all parameters, each backbone's own SSL objective and the
config's :obj:`trainer.loss_weights`. The loop is the library's
:func:`~rlmrec_pyg.train.train_epoch` (AutoCF's sampled graphs and infomax
term included). All variants run one epoch per round, interleaved (machine
noise hits all alike); the median is reported, as wall seconds and as
process CPU seconds (on a loaded shared machine, CPU seconds with
:obj:`--threads 1` approximate the uncontended single-thread wall time).

With :obj:`--device cuda` the graph, the stand-ins and the models live on
the GPU, whose name is printed and recorded in the JSON settings
(:obj:`"gpu"`); every epoch ends with :func:`torch.cuda.synchronize`
before the clock is read (:func:`synchronized`), so that its kernels are
timed, not just launched.

.. code-block:: bash

    RLMREC_DATA_CACHE=/path/to/data nice -n 10 python -m \
        benchmarks.bench_ssl_backbones --rounds 3
    RLMREC_DATA_CACHE=/path/to/data python -m \
        benchmarks.bench_ssl_backbones --device cuda --rounds 3
"""
import argparse
import os.path as osp
import statistics
from typing import Callable, Dict, List, Optional

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch_geometric.data import HeteroData

from benchmarks.common import (
    Samples,
    add_common_args,
    attach_stand_in,
    describe,
    load_data,
    sampler_of,
    side_by_side,
    write_result,
)
from rlmrec_pyg.data import BPRSampler
from rlmrec_pyg.nn import NodeEmbedding, Recommender
from rlmrec_pyg.train import train_epoch

CONF = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'conf')
BACKBONES = ['gccf', 'lightgcn', 'sgl', 'simgcl', 'dccf', 'autocf']
VARIANTS = ['base', 'contrastive', 'generative']


def experiments(names: List[str]) -> Dict[str, DictConfig]:
    r"""The composed run config of every :obj:`experiment=<name>`."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base='1.3', config_dir=CONF):
        cfgs = {n: compose('train', overrides=[f'experiment={n}'])
                for n in names}
    GlobalHydra.instance().clear()
    return cfgs


class SSLEpoch:
    r"""One epoch of the library's loop with the
    :class:`~rlmrec_pyg.nn.Recommender`, optimizer and loss weights of one
    experiment config."""
    def __init__(self, cfg: DictConfig, data: HeteroData) -> None:
        # ID embeddings first, then the encoder (the official order).
        embedding = NodeEmbedding(
            {nt: data[nt].num_nodes
             for nt in data.node_types}, int(cfg.model.embedding_dim))
        encoder = instantiate(cfg.model)
        if cfg.get('alignment'):
            encoder = instantiate(cfg.alignment.module)(encoder)
        device = data.edge_index_dict[data.edge_types[0]].device
        self.model = Recommender(encoder.to(device), data,
                                 embedding=embedding.to(device))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.weights = OmegaConf.to_container(cfg.trainer.loss_weights)
        self.batch_size = int(cfg.trainer.batch_size)
        self.data = data

    def run(self, sampler: BPRSampler,
            generator: torch.Generator) -> Dict[str, float]:
        r"""Trains one epoch and returns the mean loss and terms."""
        return train_epoch(self.model, self.data, self.optimizer, sampler,
                           self.batch_size, self.weights, 'all', generator)


def synchronized(fn: Callable[[], None],
                 device: str) -> Callable[[], None]:
    r"""Returns :obj:`fn` followed by :func:`torch.cuda.synchronize` for a
    CUDA :obj:`device` (its kernels run asynchronously: an epoch ends when
    the GPU is done), :obj:`fn` itself otherwise (nothing added to the CPU
    path)."""
    if device != 'cuda':
        return fn

    def run() -> None:
        fn()
        torch.cuda.synchronize()
    return run


def main(argv: Optional[List[str]] = None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--backbones', nargs='+', default=BACKBONES)
    parser.add_argument('--variants', nargs='+', default=VARIANTS)
    parser.add_argument('--sem-channels', type=int, default=1536)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu',
                        help='where the graph and the models live')
    args = add_common_args(parser).parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: this machine has no CUDA device '
                     '(torch.cuda.is_available() is False)')
    gpu = torch.cuda.get_device_name() if args.device == 'cuda' else None
    if args.smoke:
        args.sem_channels, args.rounds, args.warmup = 16, 1, 0
    torch.set_num_threads(args.threads)
    data = load_data(args.smoke)
    gen = torch.Generator().manual_seed(0)
    attach_stand_in(data, args.sem_channels, gen)
    data = data.to(args.device)
    sampler = sampler_of(data)
    print(f'{describe(data)}, d_s {args.sem_channels}, device '
          f'{args.device}' + (f', gpu {gpu}' if gpu else ''))
    torch.manual_seed(0)
    names = [f'{b}_{v}_amazon' for b in args.backbones for v in args.variants]
    loops = {n: SSLEpoch(cfg, data) for n, cfg in experiments(names).items()}
    terms: Dict[str, Dict[str, float]] = {}  # of each case's last epoch

    def epoch(name: str) -> Callable[[], None]:
        def fn() -> None:
            terms[name] = loops[name].run(sampler, gen)
        return synchronized(fn, args.device)

    def report(r: int, name: str, wall: float, cpu: float) -> None:
        print(f'round {r} {name}: {wall:.2f} s wall, {cpu:.2f} s cpu (loss '
              f"{terms[name]['loss']:.4f})", flush=True)

    cases: Samples = side_by_side({n: epoch(n) for n in names}, args.rounds,
                                  args.warmup, report)
    for label, key in (('wall', 'wall_s'), ('cpu', 'cpu_s')):
        print(f'== median {label} s/epoch over {args.rounds} rounds '
              f'({" / ".join(args.variants)})')
        for b in args.backbones:
            row = [
                statistics.median(cases[f'{b}_{v}_amazon'][key])
                for v in args.variants
            ]
            print(f'{b:10s} ' + ' / '.join(f'{t:6.2f}' for t in row))
    return write_result(args.json, 'bench_ssl_backbones',
                        dict(vars(args), gpu=gpu), cases, terms=terms)


if __name__ == '__main__':
    main()

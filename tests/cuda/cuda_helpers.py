r"""What the CUDA tier's tests share: a small random graph on a device, and
a model built from a run config the way ``rlmrec-train`` builds it
(:func:`rlmrec_pyg.cli.train.build_model`), trained by the library's loop
one step at a time."""
from typing import Dict, List

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from run_helpers import get_cfg
from torch_geometric import seed_everything
from torch_geometric.data import HeteroData

from rlmrec_pyg.cli.train import build_model, to_device
from rlmrec_pyg.data import BPRSampler
from rlmrec_pyg.nn import Recommender
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.train import train_epoch
from rlmrec_pyg.typing import EDGE, ITEM

#: The backbones of the paper's Table 1 and the three ways to train them.
BACKBONES = ['gccf', 'lightgcn', 'sgl', 'simgcl', 'dccf', 'autocf']
VARIANTS = ['base', 'contrastive', 'generative']
#: Backbones with a self-supervised term of their own.
SSL_BACKBONES = ['sgl', 'simgcl', 'dccf', 'autocf']
#: Sizes for a graph of 50 nodes (AutoCF's 100 official seeds would mask
#: every node).
SMALL = ['model.embedding_dim=16']
SMALL_OF = {'autocf': ['model.num_seeds=8'], 'dccf': ['model.num_intents=16']}
#: What switches off a backbone's draws from the global RNG of the device
#: (a CUDA and a CPU generator give different numbers from one seed):
#: LightGCN's and SGL's edge dropout, SimGCL's noise. The other draws come
#: from the batch's CPU generator (the BPR triples, RLMRec-Gen's masks,
#: AutoCF's sampled graphs) and match on every device.
NO_DEVICE_RNG = {
    'lightgcn': ['model.edge_drop_rate=0'],
    'sgl': ['model.edge_drop_rate=0'],
    'simgcl': ['model.eps=0'],
}


def compose(tmp_path, backbone: str, variant: str,
            deterministic: bool = False, extra=()) -> DictConfig:
    r"""The run config of :obj:`experiment=<backbone>_<variant>_amazon` (the
    paper's settings) with small sizes; :obj:`deterministic` switches off
    the draws from the device's RNG (:obj:`NO_DEVICE_RNG`)."""
    overrides = [f'experiment={backbone}_{variant}_amazon', *SMALL,
                 *SMALL_OF.get(backbone, [])]
    if deterministic:
        overrides += NO_DEVICE_RNG.get(backbone, [])
    return get_cfg(tmp_path, overrides + list(extra))


def rec_data(device: torch.device, seed: int = 0) -> HeteroData:
    r"""A random graph of 20 users and 30 items with 16-d semantic vectors,
    moved to :obj:`device` as a run moves it."""
    data = get_random_rec_data(20, 30, 200, sem_channels=16,
                               with_text=False, seed=seed)
    return to_device(data, device)


class Run:
    r"""The model, optimizer and loss weights of :obj:`cfg` on :obj:`data`,
    built from :obj:`seed` (the same initial state on every device), and
    the sampler and generator of the loop."""
    def __init__(self, cfg: DictConfig, data: HeteroData,
                 device: torch.device, seed: int = 0) -> None:
        seed_everything(seed)
        self.model: Recommender = build_model(cfg, data, device)
        self.optimizer = instantiate(cfg.optimizer)(self.model.parameters())
        self.weights = OmegaConf.to_container(cfg.trainer.loss_weights)
        self.data = data
        self.sampler = BPRSampler(data[EDGE].edge_index, data[ITEM].num_nodes)
        self.generator = torch.Generator().manual_seed(seed)

    def step(self) -> Dict[str, float]:
        r"""One step of :func:`~rlmrec_pyg.train.train_epoch` (an epoch of
        one batch: every training interaction) and its loss terms."""
        batch_size = self.data[EDGE].edge_index.size(1)
        return train_epoch(self.model, self.data, self.optimizer,
                           self.sampler, batch_size, self.weights, 'all',
                           self.generator)

    def state(self) -> Dict[str, torch.Tensor]:
        r"""A CPU copy of every parameter."""
        return {name: p.detach().cpu().clone()
                for name, p in self.model.named_parameters()}


def steps(run: Run, num: int) -> List[Dict[str, float]]:
    r"""The loss terms of :obj:`num` steps of :obj:`run`."""
    return [run.step() for _ in range(num)]

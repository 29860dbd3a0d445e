r"""One training epoch of RLMRec's official loop (``trainer.py``, spec §1.3,
§3.3, §4.2): BPR + L2 (+ SSL) (+ alignment) per batch of triples."""
from typing import Dict, Iterable, List, Optional

import torch
from torch import Tensor
from torch.nn import Module
from torch.optim import Optimizer
from torch_geometric.data import HeteroData
from tqdm import tqdm

from rlmrec_pyg.data import BPRSampler
from rlmrec_pyg.nn.functional import bpr_loss, l2_reg
from rlmrec_pyg.typing import ITEM, USER

REG_MODES = ('all', 'batch')


def train_step(model: Module, embedding: Module, data: HeteroData,
               user: Tensor, pos: Tensor, neg: Tensor,
               lambda_reg: float = 1e-6, reg: str = 'all',
               alignment_weight: float = 0.0,
               generator: Optional[torch.Generator] = None) -> Tensor:
    r"""Returns the loss of one batch of triples :math:`(u, i^+, i^-)`:

    .. math::
        \mathcal{L} = \mathcal{L}_{\text{BPR}} + \lambda_{\text{reg}}
        \sum_{\theta} \|\theta\|_F^2 \; [+ \mathcal{L}_{\text{SSL}}]
        \; [+ w \, \mathcal{L}_{\text{align}}]

    with scores :math:`\hat{y}_{u,i} = \mathbf{z}_u^{\top} \mathbf{z}_i`.
    :obj:`reg="all"` regularises every parameter of :obj:`model` and
    :obj:`embedding` (official); :obj:`reg="batch"` only the batch rows of
    the ID embeddings (PyG's :meth:`LightGCN.recommendation_loss`).
    A model with :meth:`sample_mask` (masked generative alignment) is run on
    masked inputs and aligned on the masked nodes; a model with
    :meth:`ssl_loss` adds its own self-supervised term.
    """
    x_dict = embedding()
    edge_index_dict = data.edge_index_dict
    if hasattr(model, 'sample_mask'):
        num_nodes = {nt: x.size(0) for nt, x in x_dict.items()}
        mask_dict = model.sample_mask(num_nodes, generator=generator)
        z_dict = model(x_dict, edge_index_dict, mask_dict)
        index_dict = mask_dict
    else:
        z_dict = model(x_dict, edge_index_dict)
        index_dict = {USER: [user], ITEM: [pos, neg]}
    z_user = z_dict[USER][user]
    pos_score = (z_user * z_dict[ITEM][pos]).sum(dim=-1)
    neg_score = (z_user * z_dict[ITEM][neg]).sum(dim=-1)
    loss = bpr_loss(pos_score, neg_score)
    if reg == 'all':
        params: Iterable[Tensor] = list(model.parameters()) + list(
            embedding.parameters())
    else:
        params = [x_dict[USER][user], x_dict[ITEM][pos], x_dict[ITEM][neg]]
    if lambda_reg > 0:
        loss = loss + l2_reg(params, lambda_reg)
    if hasattr(model, 'ssl_loss'):
        loss = loss + model.ssl_loss(x_dict, edge_index_dict, {
            USER: user,
            ITEM: pos
        })
    if alignment_weight > 0:
        loss = loss + alignment_weight * model.alignment_loss(
            z_dict, data.sem_emb_dict, index_dict)
    return loss


def train_epoch(model: Module, embedding: Module, data: HeteroData,
                optimizer: Optimizer, sampler: BPRSampler,
                batch_size: int = 4096, lambda_reg: float = 1e-6,
                reg: str = 'all', alignment_weight: float = 0.0,
                generator: Optional[torch.Generator] = None,
                progress_bar: bool = False) -> Dict[str, float]:
    r"""Trains for one epoch: one fresh :math:`(u, i^+, i^-)` triple per
    training interaction (negatives redrawn every epoch by
    :obj:`sampler`), in shuffled batches of :obj:`batch_size` (the last one
    short), one Adam step per batch. Returns :obj:`{'loss': mean}`.

    Args:
        model (torch.nn.Module): The encoder (possibly wrapped).
        embedding (torch.nn.Module): Returns :obj:`x_dict` when called.
        data (torch_geometric.data.HeteroData): The graph.
        optimizer (torch.optim.Optimizer): Over model and embedding.
        sampler (rlmrec_pyg.data.BPRSampler): Draws the triples.
        batch_size (int, optional): Triples per step. (default: :obj:`4096`)
        lambda_reg (float, optional): L2 weight. (default: :obj:`1e-6`)
        reg (str, optional): :obj:`"all"` or :obj:`"batch"`.
            (default: :obj:`"all"`)
        alignment_weight (float, optional): Weight of
            :meth:`alignment_loss`; :obj:`0` skips it. (default: :obj:`0.0`)
        generator (torch.Generator, optional): RNG of the sampler and masks.
            (default: :obj:`None`)
        progress_bar (bool, optional): Show a :obj:`tqdm` bar.
            (default: :obj:`False`)
    """
    if reg not in REG_MODES:
        raise ValueError(f"Unknown 'reg' '{reg}' (choose from "
                         f"{list(REG_MODES)})")
    if batch_size <= 0:
        raise ValueError(f"'batch_size' must be positive (got {batch_size})")
    model.train()
    embedding.train()
    user, pos, neg = sampler.sample(generator=generator)
    losses: List[float] = []
    starts = range(0, user.numel(), batch_size)
    for start in tqdm(starts, disable=not progress_bar, leave=False):
        end = start + batch_size
        optimizer.zero_grad()
        loss = train_step(model, embedding, data, user[start:end],
                          pos[start:end], neg[start:end], lambda_reg, reg,
                          alignment_weight, generator)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return {'loss': sum(losses) / max(len(losses), 1)}

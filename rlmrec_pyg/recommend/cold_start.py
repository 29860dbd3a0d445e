r"""Cold-start items from text alone: RLMRec-Con's projector
:math:`\sigma_{\downarrow}` maps semantic vectors into the collaborative
space, and its InfoNCE (Eq. 16) aligns the *direction* of an item's
embedding with :math:`\sigma_{\downarrow}(\mathbf{s}_i)`, so an item with a
profile and no interactions is placed at
:math:`\hat{\mathbf{e}}_i = \sigma_{\downarrow}(\mathbf{s}_i) /
\|\sigma_{\downarrow}(\mathbf{s}_i)\|` and ranked by
:math:`\mathbf{z}_u^{\top} \hat{\mathbf{e}}_i`.

:func:`cold_start_metrics` evaluates that on the split of
:mod:`rlmrec_pyg.data.cold_start` (the candidates are the cold items)
beside references: the semantic vectors alone, a random ranking (exact
expectation) and the cold items' test popularity (an oracle: it counts
test interactions)."""
from typing import Dict, Iterable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Module
from torch_geometric.data import HeteroData

from rlmrec_pyg.nn import ContrastiveAlignment, Recommender
from rlmrec_pyg.train.evaluate import rank_metrics
from rlmrec_pyg.typing import SEM_EMB, USER


@torch.no_grad()
def place_items(encoder: Module, sem: Tensor) -> Optional[Tensor]:
    r"""The unit vectors :math:`\sigma_{\downarrow}(\mathbf{s}) /
    \|\cdot\|` of RLMRec-Con's projector for the semantic vectors
    :obj:`sem`; :obj:`None` for an encoder without that projector (a plain
    backbone, RLMRec-Gen whose projector maps the other way, KAR)."""
    if not isinstance(encoder, ContrastiveAlignment):
        return None
    if encoder.projector is None:
        raise ValueError("The projector of the 'ContrastiveAlignment' is not "
                         "built yet (its sizes are inferred when a "
                         "Recommender is built on the graph)")
    weight = next(encoder.projector.parameters())
    return F.normalize(encoder.projector(sem.to(weight)), dim=-1)


def random_metrics(index: Tensor, num_items: int,
                   ks: Iterable[int]) -> Dict[str, float]:
    r"""Expected Recall@:math:`K` and NDCG@:math:`K` of a uniformly random
    ranking of :obj:`num_items` candidates, for the users of :obj:`index`:
    :math:`\min(K, n) / n`, and :math:`\frac{t}{n}\sum_{j \le K}
    \frac{1}{\log_2(j+1)}` over the ideal DCG of a user with :math:`t`
    items."""
    t = torch.bincount(index[0])
    t = t[t > 0].double()
    out: Dict[str, float] = {}
    for k in ks:
        out[f'recall@{k}'] = min(k, num_items) / num_items
    for k in ks:
        disc = 1 / torch.log2(torch.arange(2, k + 2, dtype=torch.float64,
                                           device=t.device))
        dcg = t / num_items * disc[:min(k, num_items)].sum()
        ideal = disc.cumsum(0)[t.clamp(max=k).long() - 1]  # min(k, t) terms
        out[f'ndcg@{k}'] = float((dcg / ideal).mean())
    return out


@torch.no_grad()
def cold_start_metrics(model: Recommender, data: HeteroData,
                       ks: Iterable[int] = (10, 20)
                       ) -> Dict[str, Dict[str, float]]:
    r"""Recall@:math:`K` and NDCG@:math:`K` of the held-out items of
    :obj:`data` (:obj:`data.cold_test_index`, :obj:`data.cold_sem_emb`),
    ranked among themselves for every user with a held-out interaction:
    :obj:`"cold"` (the model's placement, RLMRec-Con only),
    :obj:`"cold_semantic"` (cosine of the semantic vectors),
    :obj:`"cold_random"` (expected) and :obj:`"cold_popularity_oracle"`."""
    ks = list(ks)
    sem = getattr(data, 'cold_sem_emb', None)
    num_cold = int(len(data.cold_raw_id))
    out: Dict[str, Dict[str, float]] = {}
    user = model(data)[USER]
    # Everything on the model's device (user vectors may stay on the host
    # in half precision, see rlmrec_pyg.cli.train.to_device).
    index = data.cold_test_index.to(user.device)
    if sem is not None:
        placed = place_items(model.encoder, sem)
        if placed is not None:
            out['cold'] = rank_metrics(user, placed.to(user), index, ks=ks)
        sem_user = data[USER].get(SEM_EMB)
        if sem_user is not None:
            out['cold_semantic'] = rank_metrics(
                F.normalize(sem_user.to(user).float(), dim=-1),
                F.normalize(sem.to(user).float(), dim=-1), index, ks=ks)
    out['cold_random'] = random_metrics(index, num_cold, ks)
    count = torch.bincount(index[1], minlength=num_cold).float()
    ones = count.new_ones(data[USER].num_nodes, 1)
    out['cold_popularity_oracle'] = rank_metrics(ones, count[:, None], index,
                                                 ks=ks)
    return out

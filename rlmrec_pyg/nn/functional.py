r"""Pure loss functions of RLMRec (official ``loss_utils.py``, spec §4.2):
tensors in, a 0-dim tensor out, no modules and no state."""
from typing import Iterable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor


def bpr_loss(pos_score: Tensor, neg_score: Tensor) -> Tensor:
    r"""The Bayesian Personalized Ranking loss, averaged over the batch:

    .. math::
        \mathcal{L}_{\text{BPR}} = \frac{1}{|\mathcal{B}|}
        \sum_{(u, i^+, i^-) \in \mathcal{B}}
        \operatorname{softplus}(\hat{y}_{u,i^-} - \hat{y}_{u,i^+})

    Args:
        pos_score (torch.Tensor): Scores of the positive pairs :obj:`[B]`.
        neg_score (torch.Tensor): Scores of the negative pairs :obj:`[B]`.
    """
    return F.softplus(neg_score - pos_score).mean()


def l2_reg(tensors: Iterable[Tensor], lambda_reg: float = 1.0) -> Tensor:
    r"""The squared L2 regularisation
    :math:`\lambda \sum_{\theta} \|\theta\|_F^2`.

    The official code passes **all** model parameters (full embedding tables,
    projector and mask token included) at every step; PyG's
    :meth:`~torch_geometric.nn.models.LightGCN.recommendation_loss` passes
    only the batch rows. Both are calls of this function.

    Args:
        tensors (Iterable[torch.Tensor]): The tensors to regularise, *e.g.*,
            :obj:`model.parameters()`.
        lambda_reg (float, optional): The weight :math:`\lambda`.
            (default: :obj:`1.0`)
    """
    total: Optional[Tensor] = None
    for t in tensors:
        sq = t.pow(2).sum()
        total = sq if total is None else total + sq
    if total is None:
        return torch.zeros(())
    return lambda_reg * total


def info_nce(query: Tensor, key: Tensor, target: Optional[Tensor] = None,
             temperature: float = 0.2, query_count: Optional[Tensor] = None,
             key_count: Optional[Tensor] = None) -> Tensor:
    r"""The cosine InfoNCE loss, averaged over the rows of :obj:`query`:

    .. math::
        \mathcal{L} = -\frac{1}{n} \sum_{r=1}^{n} \log
        \frac{\exp(\cos(\mathbf{q}_r, \mathbf{k}_{t_r}) / \tau)}
        {\sum_{c} \exp(\cos(\mathbf{q}_r, \mathbf{k}_c) / \tau)}

    Computed as :func:`torch.nn.functional.cross_entropy` over the cosine
    logits (log-sum-exp stable), the same value as the official
    ``cal_infonce_loss`` summed and divided by the batch size.

    A batch with repeated rows can be passed de-duplicated, with the same
    value for less work: :obj:`query_count[r]` says how many identical
    anchors row :math:`r` stands for (a weighted mean), and
    :obj:`key_count[c]` how many identical candidates column :math:`c`
    stands for (:math:`\log m_c` added to its logit in the denominator; the
    numerator keeps one copy of the positive).

    Args:
        query (torch.Tensor): The anchors :obj:`[n, d]`.
        key (torch.Tensor): The candidates :obj:`[m, d]`.
        target (torch.Tensor, optional): For each anchor, the row of
            :obj:`key` holding its positive :obj:`[n]`. :obj:`None` means
            :obj:`arange(n)` (in-batch negatives, :obj:`m == n`).
            (default: :obj:`None`)
        temperature (float, optional): The temperature :math:`\tau`.
            (default: :obj:`0.2`)
        query_count (torch.Tensor, optional): Multiplicity of each anchor
            :obj:`[n]`. (default: :obj:`None`)
        key_count (torch.Tensor, optional): Multiplicity of each candidate
            :obj:`[m]`. (default: :obj:`None`)
    """
    # 1/tau folded into the [n, d] anchors, not the [n, m] logits.
    logits = (F.normalize(query, dim=-1) / temperature) @ F.normalize(
        key, dim=-1).t()
    if target is None:
        target = torch.arange(query.size(0), device=query.device)
    if query_count is None and key_count is None:
        return F.cross_entropy(logits, target)
    if key_count is not None:
        log_count = key_count.to(logits.dtype).log()
        logits = logits + log_count
    loss = F.cross_entropy(logits, target, reduction='none')
    if key_count is not None:
        loss = loss + log_count[target]
    if query_count is None:
        return loss.mean()
    weight = query_count.to(loss.dtype)
    return (weight * loss).sum() / weight.sum()

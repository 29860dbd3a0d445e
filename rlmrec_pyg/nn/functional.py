r"""Pure loss functions of RLMRec (official ``loss_utils.py``; see
docs/parity.md#infonce-numerics): tensors in, a 0-dim tensor out, no
modules and no state."""
from typing import Any, Iterable, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from rlmrec_pyg.nn.memory import check_score_matrix


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


def _block_scores(query: Tensor, key_t: Tensor, bias: Optional[Tensor],
                  out: Tensor) -> Tensor:
    # out = query @ key_t (+ bias), written into a reused buffer: fresh
    # block-sized allocations cost more than the products on the CPU.
    if bias is not None:
        return torch.addmm(bias, query, key_t, out=out)
    return torch.mm(query, key_t, out=out)


class _BlockLogSumExp(torch.autograd.Function):
    # lse_r = log sum_c exp(q_r . k_c + b_c), one block of rows at a time in
    # one reused buffer; the backward recomputes each block's scores instead
    # of keeping the [n, m] matrix (it stays in cache: ~2x faster on CPU
    # than the materialised log-softmax and its gradient).
    @staticmethod
    def forward(ctx: Any, query: Tensor, key: Tensor, bias: Optional[Tensor],
                block: int) -> Tensor:
        key_t = key.t().contiguous()
        out = query.new_empty(query.size(0))
        buf = query.new_empty(min(block, query.size(0)), key.size(0))
        for start in range(0, query.size(0), block):
            q = query[start:start + block]
            scores = _block_scores(q, key_t, bias, buf[:q.size(0)])
            peak = scores.amax(dim=1, keepdim=True)
            lse = scores.sub_(peak).exp_().sum(dim=1).log_()
            out[start:start + block] = lse.add_(peak.squeeze(1))
        ctx.save_for_backward(query, key, bias, out)
        ctx.block = block
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tuple[Optional[Tensor], ...]:
        query, key, bias, lse = ctx.saved_tensors
        key_t = key.t().contiguous()
        grad_query = torch.empty_like(query)
        grad_key = torch.zeros_like(key)
        buf = query.new_empty(min(ctx.block, query.size(0)), key.size(0))
        for start in range(0, query.size(0), ctx.block):
            end = start + ctx.block
            q = query[start:end]
            prob = _block_scores(q, key_t, bias, buf[:q.size(0)])
            prob.sub_(lse[start:end, None]).exp_().mul_(grad[start:end, None])
            torch.mm(prob, key, out=grad_query[start:end])
            grad_key.addmm_(prob.t(), q)
        return grad_query, grad_key, None, None


def logsumexp_scores(query: Tensor, key: Tensor,
                     bias: Optional[Tensor] = None, block: int = 256,
                     max_blocked_dim: int = 128) -> Tensor:
    r"""Returns :math:`\log \sum_{c} \exp(\mathbf{q}_r^{\top}
    \mathbf{k}_c + b_c)` for every row :math:`r` of :obj:`query`
    (:obj:`[n]`), the denominator of every InfoNCE loss here.

    On the CPU (outside autocast) and for narrow rows (:math:`d \le`
    :obj:`max_blocked_dim`, *e.g.*, CF embeddings) the :obj:`[n, m]` score
    matrix is never stored: rows are processed in blocks of :obj:`block`
    and the backward recomputes each block (same value and gradient, about
    twice as fast as :func:`torch.logsumexp` over the full matrix, since
    the cost is memory, not the :math:`d`-wide products). Otherwise (GPU,
    autocast, wide rows such as semantic vectors, where recomputing the
    products costs more than it saves) it is :func:`torch.logsumexp` of the
    full matrix, refused with a
    :class:`~rlmrec_pyg.nn.memory.ScoreMatrixTooLarge` when it would not
    fit.

    Args:
        query (torch.Tensor): :obj:`[n, d]`.
        key (torch.Tensor): :obj:`[m, d]`.
        bias (torch.Tensor, optional): A per-candidate term :obj:`[m]`.
            (default: :obj:`None`)
        block (int, optional): Rows per block on the CPU.
            (default: :obj:`256`)
        max_blocked_dim (int, optional): The widest rows computed in blocks.
            (default: :obj:`128`)
    """
    if (query.device.type == 'cpu' and key.device.type == 'cpu'
            and query.size(-1) <= max_blocked_dim
            and not torch.is_autocast_enabled('cpu')
            and query.dtype == key.dtype
            and (bias is None or not bias.requires_grad)):
        return _BlockLogSumExp.apply(query, key, bias, block)
    check_score_matrix(query.size(0), key.size(0),
                       torch.promote_types(query.dtype, key.dtype),
                       query.device)
    scores = query @ key.t()
    if bias is not None:
        scores = scores + bias
    return torch.logsumexp(scores, dim=-1)


def info_nce(query: Tensor, key: Tensor, target: Optional[Tensor] = None,
             temperature: float = 0.2, query_count: Optional[Tensor] = None,
             key_count: Optional[Tensor] = None) -> Tensor:
    r"""The cosine InfoNCE loss, averaged over the rows of :obj:`query`:

    .. math::
        \mathcal{L} = -\frac{1}{n} \sum_{r=1}^{n} \log
        \frac{\exp(\cos(\mathbf{q}_r, \mathbf{k}_{t_r}) / \tau)}
        {\sum_{c} \exp(\cos(\mathbf{q}_r, \mathbf{k}_c) / \tau)}

    Computed with :func:`logsumexp_scores` (log-sum-exp stable, the score
    matrix never stored on the CPU), the same value as the official
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
    # 1/tau folded into the [n, d] anchors, not the [n, m] logits:
    # loss_r = log sum_c m_c exp(s_rc) - s_r,t_r with s = cos / tau.
    query = F.normalize(query, dim=-1) / temperature
    key = F.normalize(key, dim=-1)
    if target is None:
        target = torch.arange(query.size(0), device=query.device)
    bias = None
    if key_count is not None:
        bias = key_count.to(query.dtype).log()
    loss = logsumexp_scores(query, key, bias) - (query * key[target]).sum(-1)
    if query_count is None:
        return loss.mean()
    weight = query_count.to(loss.dtype)
    return (weight * loss).sum() / weight.sum()

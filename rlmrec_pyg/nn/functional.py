r"""Pure loss functions of RLMRec (official ``loss_utils.py``; see
docs/parity.md#infonce-numerics): tensors in, a 0-dim tensor out, no
modules and no state."""
import math
import threading
from typing import Any, Iterable, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

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


#: The largest score matrix (bytes) kept from the forward for the backward
#: on the CPU; a larger one is recomputed block by block in the backward.
STORE_SCORES_BYTES = 1 << 28
#: The largest exponent allowed without a per-row maximum: :math:`e^{\pm x}`
#: and a sum of :math:`m` such terms stay normal float32 numbers.
MAX_EXPONENT = 80.0


def _constant_base(bound: Optional[float], bias: Optional[Tensor],
                   m: int) -> Optional[float]:
    # With |q.k| <= bound small enough, exp(q.k) needs no shift at all: the
    # bias is folded in as column weights exp(b_c - max b) <= 1 and max b
    # is added back to the log (returned). None: shift by each row's max.
    if bound is None or bound > MAX_EXPONENT or (
            bound + math.log(max(m, 1)) > MAX_EXPONENT + 5):
        return None
    if bias is None or bias.numel() == 0:
        return 0.0
    return float(bias.max())


class _BufferPool:
    # Flat buffers for the kept exponentials, reused from step to step: a
    # fresh allocation over glibc's 32 MiB mmap threshold faults all of its
    # pages in again at every step (docs/scaling.md), which costs about as
    # much as the products here. A buffer is taken in the forward and given
    # back by the backward that used it; one whose graph is dropped
    # unused is freed as any tensor.
    def __init__(self, max_buffers: int = 4, headroom: float = 1.25) -> None:
        self.free: List[Tensor] = []
        self.max_buffers, self.headroom = max_buffers, headroom
        self.lock = threading.Lock()

    def take(self, rows: int, cols: int, like: Tensor) -> Tensor:
        numel = rows * cols
        with self.lock:
            fits = [i for i, b in enumerate(self.free)
                    if b.numel() >= numel and b.dtype == like.dtype
                    and b.device == like.device]
            if fits:
                i = min(fits, key=lambda i: self.free[i].numel())
                return self.free.pop(i)[:numel].view(rows, cols)
        flat = like.new_empty(int(numel * self.headroom))
        return flat[:numel].view(rows, cols)

    def give(self, buf: Tensor) -> None:
        flat = buf if buf._base is None else buf._base
        with self.lock:
            self.free.append(flat)
            if len(self.free) > self.max_buffers:  # drop the smallest
                self.free.sort(key=Tensor.numel)
                del self.free[0]


_EXPS = _BufferPool()


class _LogSumExp(torch.autograd.Function):
    # lse_r = log sum_c exp(q_r . k_c + b_c), a block of `block` query rows
    # at a time. Either every score is small enough to exponentiate as is
    # (`base` given: the bias enters as column weights u_c = exp(b_c -
    # base)), or the block's scores are shifted by their row maxima o_r.
    # Each block's exponentials E are summed while in cache, then kept
    # (`store`) or recomputed in the backward. The softmax is never formed:
    # with w_r = g_r exp(o_r - lse_r), the gradients are w * (E (u * k))
    # and u * (E^T (w * q)), row scalings of the [n, d] and [m, d] sides.
    @staticmethod
    def forward(ctx: Any, query: Tensor, key: Tensor, bias: Optional[Tensor],
                base: Optional[float], block: int, store: bool) -> Tensor:
        n, m = query.size(0), key.size(0)
        key_t = key.t().contiguous()
        weight = None
        if base is not None and bias is not None and bias.numel() > 0:
            weight = (bias.to(query.dtype) - base).exp_()
        lse = query.new_empty(n)
        offset = query.new_full((n, ), 0.0 if base is None else base)
        store = store and any(ctx.needs_input_grad[:2])
        exps = (_EXPS.take(n, m, query) if store else
                query.new_empty(min(block, n), m))
        for start in range(0, n, block):
            q = query[start:start + block]
            rows = slice(start, start + q.size(0))
            out = exps[rows] if store else exps[:q.size(0)]
            _exps(q, key_t, None if base is not None else bias, out,
                  offset[rows], row_max=base is None)
            total = out.sum(dim=1) if weight is None else out.mv(weight)
            lse[rows] = total.log_().add_(offset[rows])
        ctx.save_for_backward(query, key, bias, weight, lse, offset)
        # Kept as an attribute, not a saved tensor: the backward hands it
        # back to the pool, and a second backward (retain_graph) recomputes.
        ctx.exps = exps if store else None
        ctx.row_max, ctx.block = base is None, block
        return lse

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> Tuple[Optional[Tensor], ...]:
        query, key, bias, weight, lse, offset = ctx.saved_tensors
        stored, ctx.exps = ctx.exps, None
        need_q, need_k = ctx.needs_input_grad[:2]
        scale = (offset - lse).exp_().mul_(grad).unsqueeze(1)  # w, [n, 1]
        key_w = key if weight is None or not need_q else (
            key * weight.unsqueeze(1))
        query_w = query * scale if need_k else query
        grad_query = grad_key = None
        if stored is not None:
            if need_q:
                grad_query = stored.mm(key_w).mul_(scale)
            if need_k:
                grad_key = stored.t().mm(query_w)
            _EXPS.give(stored)
        else:
            n, m = query.size(0), key.size(0)
            key_t = key.t().contiguous()
            grad_query = torch.empty_like(query) if need_q else None
            grad_key = torch.zeros_like(key) if need_k else None
            buf = query.new_empty(min(ctx.block, n), m)
            for start in range(0, n, ctx.block):
                rows = slice(start, start + ctx.block)
                q = query[rows]
                out = buf[:q.size(0)]
                _exps(q, key_t, bias if ctx.row_max else None, out,
                      offset[rows], row_max=ctx.row_max, recompute=True)
                if grad_query is not None:
                    torch.mm(out, key_w, out=grad_query[rows])
                    grad_query[rows].mul_(scale[rows])
                if grad_key is not None:
                    grad_key.addmm_(out.t(), query_w[rows])
        if grad_key is not None and weight is not None:
            grad_key.mul_(weight.unsqueeze(1))
        return grad_query, grad_key, None, None, None, None


def _exps(q: Tensor, key_t: Tensor, bias: Optional[Tensor], out: Tensor,
          offset: Tensor, row_max: bool, recompute: bool = False) -> None:
    # out = exp(q key_t (+ bias) - o) in place, o the rows' maxima (found
    # in the forward into `offset`, reused by the recomputation), or no
    # shift at all.
    if bias is not None:
        torch.addmm(bias, q, key_t, out=out)
    else:
        torch.mm(q, key_t, out=out)
    if row_max:
        if not recompute:
            offset.copy_(out.amax(dim=1))
        out.sub_(offset.unsqueeze(1))
    out.exp_()


def logsumexp_scores(query: Tensor, key: Tensor,
                     bias: Optional[Tensor] = None, block: int = 256,
                     max_blocked_dim: int = 128,
                     bound: Optional[float] = None) -> Tensor:
    r"""Returns :math:`\log \sum_{c} \exp(\mathbf{q}_r^{\top}
    \mathbf{k}_c + b_c)` for every row :math:`r` of :obj:`query`
    (:obj:`[n]`), the denominator of every InfoNCE loss here.

    On the CPU (outside autocast) the softmax is never formed: the
    exponentials are computed a block of :obj:`block` rows at a time while
    the block's scores are in cache, and the gradients are two products
    with them, scaled per row. A score matrix of at most
    :obj:`STORE_SCORES_BYTES` is kept for the backward (the least work: one
    product and one exponential per score forward, two products backward);
    a larger one of narrow rows (:math:`d \le` :obj:`max_blocked_dim`,
    *e.g.*, CF embeddings) is recomputed block by block in the backward, so
    that memory stays :math:`O(\text{block} \cdot m)`. Otherwise (GPU,
    autocast, a large matrix of wide rows) it is :func:`torch.logsumexp` of
    the full matrix, refused with a
    :class:`~rlmrec_pyg.nn.memory.ScoreMatrixTooLarge` when it would not
    fit.

    With :obj:`bound` (:math:`|\mathbf{q}_r^{\top} \mathbf{k}_c| \le`
    :obj:`bound`, *e.g.*, :math:`1 / \tau` for cosine scores) small enough
    that :math:`e^{\pm \text{bound}}` and sums of :math:`m` such terms stay
    normal float32 numbers (:obj:`MAX_EXPONENT`), the scores are
    exponentiated as they are, with no per-row maximum, and the bias enters
    as column weights :math:`e^{b_c - \max b}` of the sums and products
    (two passes fewer over the scores); the value is the same.

    Args:
        query (torch.Tensor): :obj:`[n, d]`.
        key (torch.Tensor): :obj:`[m, d]`.
        bias (torch.Tensor, optional): A per-candidate term :obj:`[m]`.
            (default: :obj:`None`)
        block (int, optional): Rows per block on the CPU.
            (default: :obj:`256`)
        max_blocked_dim (int, optional): The widest rows recomputed in
            blocks when the matrix is not kept. (default: :obj:`128`)
        bound (float, optional): An upper bound of
            :math:`|\mathbf{q}_r^{\top} \mathbf{k}_c|`.
            (default: :obj:`None`)
    """
    n, m = query.size(0), key.size(0)
    if (query.device.type == 'cpu' and key.device.type == 'cpu'
            and not torch.is_autocast_enabled('cpu')
            and query.dtype == key.dtype
            and (bias is None or not bias.requires_grad)):
        store = n * m * query.element_size() <= STORE_SCORES_BYTES
        if store:  # a dense matrix after all (never refused in practice)
            check_score_matrix(n, m, query.dtype, query.device)
        if store or query.size(-1) <= max_blocked_dim:
            return _LogSumExp.apply(query, key, bias,
                                    _constant_base(bound, bias, m), block,
                                    store)
    check_score_matrix(n, m, torch.promote_types(query.dtype, key.dtype),
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
    # |q.k| <= 1 / tau for unit rows: one constant shift, no row maxima.
    lse = logsumexp_scores(query, key, bias, bound=1.0 / temperature)
    loss = lse - (query * key[target]).sum(-1)
    if query_count is None:
        return loss.mean()
    weight = query_count.to(loss.dtype)
    return (weight * loss).sum() / weight.sum()

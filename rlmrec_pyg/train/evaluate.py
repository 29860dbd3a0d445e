r"""All-rank top-:math:`K` evaluation (official ``trainer/metrics.py`` and
``AllRankTstData``)."""
from typing import (Callable, Dict, Iterable, List, Optional, Sequence,
                    Tuple)

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.metrics import (
    LinkPredMetricCollection,
    LinkPredNDCG,
    LinkPredRecall,
)

from rlmrec_pyg.data.graph import check_finite_rows
from rlmrec_pyg.nn import Recommender
from rlmrec_pyg.train import distributed as dist
from rlmrec_pyg.typing import EDGE, ITEM, TEST_INDEX, USER, VAL_INDEX

SPLITS = {'val': VAL_INDEX, 'test': TEST_INDEX}


def _check_ks(ks: Iterable[int]) -> List[int]:
    ks = list(ks)
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k <= 0
                     for k in ks):
        raise ValueError(f"'ks' must be a non-empty list of positive integers "
                         f"(got {ks})")
    return ks


def user_ptr(index: Tensor, num_users: int) -> Tensor:
    r"""The CSR pointer :obj:`[num_users + 1]` of interactions
    :obj:`index` sorted by user."""
    out = index.new_zeros(num_users + 1)
    out[1:] = torch.bincount(index[0], minlength=num_users).cumsum(0)
    return out


def top_items(user_emb: Tensor, item_emb: Tensor, row: Tensor, col: Tensor,
              k: int, item_batch_size: int, check_scores: bool,
              batch: Tensor) -> Tuple[Tensor, Tensor]:
    r"""The scores and indices of the top :obj:`k` items of every row of
    :obj:`user_emb` by dot product, the pairs :obj:`(row, col)` excluded
    (scored :obj:`-inf`, so ranked last), computed one chunk of
    :obj:`item_batch_size` items at a time with a running top-:obj:`k`;
    :obj:`batch` (the users' ids) only names them in an error."""
    num_items = item_emb.size(0)
    best_val: Optional[Tensor] = None
    best_idx = user_emb.new_empty(user_emb.size(0), 0, dtype=torch.long)
    for start in range(0, num_items, max(item_batch_size, 1)):
        end = min(start + item_batch_size, num_items)
        score = user_emb @ item_emb[start:end].t()  # [B, chunk]
        if check_scores and not bool(torch.isfinite(score).all()):
            raise ValueError(f"The scores of users {int(batch[0])}-"
                             f"{int(batch[-1])} overflow to infinity: the "
                             f"embeddings are too large to rank with (the "
                             f"model diverged)")
        inside = (col >= start) & (col < end)
        score[row[inside], col[inside] - start] = float('-inf')
        val, idx = score.topk(min(k, end - start), dim=1)
        if best_val is None:
            best_val, best_idx = val, idx
            continue
        val = torch.cat([best_val, val], dim=1)
        idx = torch.cat([best_idx, idx + start], dim=1)
        top = val.topk(min(k, val.size(1)), dim=1)
        best_val, best_idx = top.values, idx.gather(1, top.indices)
    if best_val is None:
        best_val = user_emb.new_empty(user_emb.size(0), 0)
    return best_val, best_idx


@torch.no_grad()
def rank_metrics(user_emb: Tensor, item_emb: Tensor, eval_index: Tensor,
                 exclude_index: Sequence[Tensor] = (),
                 ks: Iterable[int] = (5, 10, 20),
                 batch_size: int = 1024,
                 item_batch_size: Optional[int] = None,
                 users: Optional[Tensor] = None,
                 all_reduce: Optional[Callable[[Tensor], Tensor]] = None
                 ) -> Dict[str, float]:
    r"""Returns Recall@:math:`K` and NDCG@:math:`K` of full-rank dot-product
    recommendation, averaged over the users with at least one interaction
    in :obj:`eval_index` (users without ground truth are excluded):

    .. math::
        \mathrm{Recall@}K(u) = \frac{\sum_{j \le K} r_u(j)}{|T_u|},
        \qquad
        \mathrm{NDCG@}K(u) = \frac{\sum_{j \le K} r_u(j) / \log_2(j+1)}
        {\sum_{j \le \min(K, |T_u|)} 1 / \log_2(j+1)}

    where :math:`r_u(j)` is 1 if the :math:`j`-th ranked item is in the
    ground truth :math:`T_u`. Items in :obj:`exclude_index` (the training
    interactions) are ranked last. Non-finite embeddings (or scores that
    overflow) raise a :class:`ValueError`. Scores are computed per batch
    of users (and, with :obj:`item_batch_size`, per chunk of items, keeping
    a running top-:math:`K`, so that memory is bounded by
    :obj:`batch_size * item_batch_size` scores whatever the catalogue
    size); the metrics are :class:`torch_geometric.metrics.LinkPredRecall` and
    :class:`~torch_geometric.metrics.LinkPredNDCG`, whose definitions are
    the official ones.

    Args:
        user_emb (torch.Tensor): User embeddings :obj:`[U, d]`.
        item_emb (torch.Tensor): Item embeddings :obj:`[I, d]`.
        eval_index (torch.Tensor): Ground-truth interactions :obj:`[2, E]`.
        exclude_index (Sequence[torch.Tensor], optional): Interactions whose
            items are masked out of each user's ranking. (default: :obj:`()`)
        ks (Iterable[int], optional): Cut-offs :math:`K`.
            (default: :obj:`(5, 10, 20)`)
        batch_size (int, optional): Users per score matrix.
            (default: :obj:`1024`)
        item_batch_size (int, optional): Items per score matrix; all of
            them at once if :obj:`None`. (default: :obj:`None`)
        users (torch.Tensor, optional): Evaluate these users only (those of
            them with ground truth), *e.g.*, a sample or one process's
            share. (default: :obj:`None`)
        all_reduce (Callable, optional): Sums a tensor over processes: each
            process ranks its share of :obj:`users`, and the metric sums
            and user counts are summed before the means are taken
            (data-parallel evaluation). (default: :obj:`None`)
    """
    ks = _check_ks(ks)
    for name, size in (('batch_size', batch_size),
                       ('item_batch_size', item_batch_size)):
        if size is not None and (isinstance(size, bool) or size <= 0):
            raise ValueError(f"'{name}' must be a positive integer (got "
                             f"{size!r})")
    num_users, num_items = user_emb.size(0), item_emb.size(0)
    for name, index in [('eval_index', eval_index)] + [
            ('exclude_index', i) for i in exclude_index]:
        if index.numel() > 0 and (int(index[0].max()) >= num_users
                                  or int(index[1].max()) >= num_items
                                  or int(index.min()) < 0):
            raise ValueError(f"'{name}' holds ids out of range (expected "
                             f"users < {num_users} and items < {num_items})")
    # Ranking on NaN or infinite scores is not a result: refuse them.
    check_finite_rows(user_emb, 'The user embeddings to rank with')
    check_finite_rows(item_emb, 'The item embeddings to rank with')
    # Finite embeddings can still overflow in a product: check the scores
    # only where the Cauchy-Schwarz bound allows it.
    bound = (user_emb.norm(dim=-1).max() * item_emb.norm(dim=-1).max()
             if num_users and num_items else user_emb.new_zeros(()))
    check_scores = not bool(bound < torch.finfo(user_emb.dtype).max)
    metrics = LinkPredMetricCollection(
        [LinkPredRecall(k) for k in ks] + [LinkPredNDCG(k) for k in ks])
    metrics.to(user_emb.device)
    eval_index = eval_index[:, eval_index[0].argsort(stable=True)]
    eval_ptr = user_ptr(eval_index, num_users)
    excl = torch.cat([eval_index.new_empty(2, 0), *exclude_index], dim=1)
    excl = excl[:, excl[0].argsort(stable=True)]
    excl_ptr = user_ptr(excl, num_users)
    users_with_truth = eval_index[0].unique()  # sorted
    if users is None:
        users = users_with_truth
    else:
        if users.dim() != 1 or (users.numel() and (
                int(users.min()) < 0 or int(users.max()) >= num_users)):
            raise ValueError(f"'users' must be a 1-D tensor of user ids < "
                             f"{num_users} (got shape {list(users.shape)})")
        users = users.unique()
        users = users[torch.isin(users, users_with_truth)]
    local = torch.full((num_users, ), -1, dtype=torch.long,
                       device=user_emb.device)
    max_k = min(max(ks), num_items)
    for start in range(0, users.numel(), batch_size):
        batch = users[start:start + batch_size]
        local[batch] = torch.arange(batch.numel(), device=local.device)
        # Interactions of the batch users lie in one contiguous range.
        lo, hi = int(excl_ptr[batch[0]]), int(excl_ptr[batch[-1] + 1])
        row = local[excl[0, lo:hi]]
        keep = row >= 0
        _, pred = top_items(user_emb[batch], item_emb, row[keep],
                            excl[1, lo:hi][keep], max_k,
                            item_batch_size or num_items, check_scores,
                            batch)  # [B, max_k]
        lo, hi = int(eval_ptr[batch[0]]), int(eval_ptr[batch[-1] + 1])
        row = local[eval_index[0, lo:hi]]
        keep = row >= 0
        label = torch.stack([row[keep], eval_index[1, lo:hi][keep]])
        metrics.update(pred, label)
        local[batch] = -1
    if all_reduce is not None:
        parts = list(metrics.values())
        accum = all_reduce(torch.stack([m.accum.double() for m in parts]))
        total = all_reduce(torch.stack([m.total for m in parts]))
        for m, a, t in zip(parts, accum, total):
            m.accum.copy_(a)
            m.total.copy_(t)
    out = metrics.compute()
    result: Dict[str, float] = {}
    for k in ks:
        result[f'recall@{k}'] = float(out[f'LinkPredRecall@{k}'])
    for k in ks:
        result[f'ndcg@{k}'] = float(out[f'LinkPredNDCG@{k}'])
    return result


@torch.no_grad()
def evaluate(model: Recommender, data: HeteroData, split: str = 'test',
             ks: Iterable[int] = (5, 10, 20), batch_size: int = 1024,
             mask_val: bool = False,
             z_dict: Optional[Dict[str, Tensor]] = None,
             item_batch_size: Optional[int] = None,
             user_sample: Optional[int] = None,
             seed: int = 0, distributed: bool = False) -> Dict[str, float]:
    r"""Evaluates a recommender on the validation or test interactions of
    :obj:`data` with :func:`rank_metrics`, as the official protocol: the
    embeddings are computed once (:obj:`model.eval()`, no edge dropout or
    masking) by :obj:`model(data)`, training items are masked, and
    validation items are **not** masked at test time (they stay rankable
    and count as misses) unless :obj:`mask_val=True`. The model is left in
    evaluation mode. With :obj:`user_sample`, only a seeded random sample
    of that many users with ground truth is ranked (not the paper's
    protocol): the result then says so in :obj:`"sampled_users"`.

    Args:
        model (rlmrec_pyg.nn.Recommender): ID embeddings and encoder.
        data (torch_geometric.data.HeteroData): The graph.
        split (str, optional): :obj:`"val"` or :obj:`"test"`.
            (default: :obj:`"test"`)
        ks (Iterable[int], optional): Cut-offs. (default: :obj:`(5, 10, 20)`)
        batch_size (int, optional): Users per score matrix.
            (default: :obj:`1024`)
        mask_val (bool, optional): At test time, also mask validation items
            (not the official protocol). (default: :obj:`False`)
        z_dict (Dict[str, torch.Tensor], optional): Precomputed embeddings
            (skips the forward pass). (default: :obj:`None`)
        item_batch_size (int, optional): Items per score matrix (bounded
            memory on large catalogues, see :func:`rank_metrics`).
            (default: :obj:`None`)
        user_sample (int, optional): Rank a random sample of this many
            users with ground truth. (default: :obj:`None`)
        seed (int, optional): Seed of the user sample. (default: :obj:`0`)
        distributed (bool, optional): In a :mod:`torch.distributed` group,
            rank only this process's contiguous share of the users and sum
            the metrics over processes (every process gets the same
            result). (default: :obj:`False`)
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown split '{split}' (choose from "
                         f"{sorted(SPLITS)})")
    store = data[EDGE]
    if z_dict is None:
        model.eval()
        z_dict = model(data)
    exclude = [store.edge_index]
    if split == 'test' and mask_val and VAL_INDEX in store:
        exclude.append(store[VAL_INDEX])
    eval_index = store[SPLITS[split]]
    users = None
    if user_sample is not None:
        if isinstance(user_sample, bool) or not isinstance(
                user_sample, int) or user_sample <= 0:
            raise ValueError(f"'user_sample' must be a positive integer or "
                             f"None (got {user_sample!r})")
        candidates = eval_index[0].unique()
        if user_sample < candidates.numel():
            gen = torch.Generator().manual_seed(seed)
            pick = torch.randperm(candidates.numel(), generator=gen)
            users = candidates[pick[:user_sample].to(candidates.device)]
    reduce = None
    if distributed and dist.is_distributed():
        pool = eval_index[0].unique() if users is None else users
        lo, hi = dist.share(pool.numel())
        shard, reduce = pool[lo:hi], dist.all_reduce_sum
    else:
        shard = users
    out = rank_metrics(z_dict[USER], z_dict[ITEM], eval_index, exclude, ks,
                       batch_size, item_batch_size, shard, reduce)
    if users is not None:
        out['sampled_users'] = float(users.numel())
    return out

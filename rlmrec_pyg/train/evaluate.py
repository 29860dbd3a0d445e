r"""All-rank top-:math:`K` evaluation (official ``trainer/metrics.py`` and
``AllRankTstData``)."""
from typing import Dict, Iterable, List, Optional, Sequence

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
from rlmrec_pyg.typing import EDGE, ITEM, TEST_INDEX, USER, VAL_INDEX

SPLITS = {'val': VAL_INDEX, 'test': TEST_INDEX}


def _check_ks(ks: Iterable[int]) -> List[int]:
    ks = list(ks)
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k <= 0
                     for k in ks):
        raise ValueError(f"'ks' must be a non-empty list of positive integers "
                         f"(got {ks})")
    return ks


def _user_ptr(index: Tensor, num_users: int) -> Tensor:
    # CSR pointer of interactions sorted by user.
    out = index.new_zeros(num_users + 1)
    out[1:] = torch.bincount(index[0], minlength=num_users).cumsum(0)
    return out


@torch.no_grad()
def rank_metrics(user_emb: Tensor, item_emb: Tensor, eval_index: Tensor,
                 exclude_index: Sequence[Tensor] = (),
                 ks: Iterable[int] = (5, 10, 20),
                 batch_size: int = 1024) -> Dict[str, float]:
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
    of users;
    the metrics are :class:`torch_geometric.metrics.LinkPredRecall` and
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
    """
    ks = _check_ks(ks)
    if batch_size <= 0:
        raise ValueError(f"'batch_size' must be positive (got {batch_size})")
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
    eval_ptr = _user_ptr(eval_index, num_users)
    excl = torch.cat([eval_index.new_empty(2, 0), *exclude_index], dim=1)
    excl = excl[:, excl[0].argsort(stable=True)]
    excl_ptr = _user_ptr(excl, num_users)
    users = eval_index[0].unique()  # users with ground truth, sorted
    local = torch.full((num_users, ), -1, dtype=torch.long,
                       device=user_emb.device)
    max_k = min(max(ks), num_items)
    for start in range(0, users.numel(), batch_size):
        batch = users[start:start + batch_size]
        local[batch] = torch.arange(batch.numel(), device=local.device)
        score = user_emb[batch] @ item_emb.t()  # [B, I]
        if check_scores and not bool(torch.isfinite(score).all()):
            raise ValueError(f"The scores of users {int(batch[0])}-"
                             f"{int(batch[-1])} overflow to infinity: the "
                             f"embeddings are too large to rank with (the "
                             f"model diverged)")
        # Interactions of the batch users lie in one contiguous range.
        lo, hi = int(excl_ptr[batch[0]]), int(excl_ptr[batch[-1] + 1])
        row = local[excl[0, lo:hi]]
        keep = row >= 0
        score[row[keep], excl[1, lo:hi][keep]] = float('-inf')
        pred = score.topk(max_k, dim=1).indices  # [B, max_k]
        lo, hi = int(eval_ptr[batch[0]]), int(eval_ptr[batch[-1] + 1])
        row = local[eval_index[0, lo:hi]]
        keep = row >= 0
        label = torch.stack([row[keep], eval_index[1, lo:hi][keep]])
        metrics.update(pred, label)
        local[batch] = -1
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
             z_dict: Optional[Dict[str, Tensor]] = None) -> Dict[str, float]:
    r"""Evaluates a recommender on the validation or test interactions of
    :obj:`data` with :func:`rank_metrics`, as the official protocol: the
    embeddings are computed once (:obj:`model.eval()`, no edge dropout or
    masking) by :obj:`model(data)`, training items are masked, and
    validation items are **not** masked at test time (they stay rankable
    and count as misses) unless :obj:`mask_val=True`. The model is left in
    evaluation mode.

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
    return rank_metrics(z_dict[USER], z_dict[ITEM], store[SPLITS[split]],
                        exclude, ks, batch_size)

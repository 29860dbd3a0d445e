r"""From raw interaction lists to the bipartite graph: rating threshold,
de-duplication, iterative k-core, contiguous ids and a seeded per-user split.
Shared by :class:`~rlmrec_pyg.data.MovieLensText` and
:class:`~rlmrec_pyg.data.InteractionCSV`."""
import math
import numbers
from typing import Any, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from rlmrec_pyg.data.graph import build_rec_data
from rlmrec_pyg.typing import (
    EDGE,
    ITEM,
    RAW_ID,
    TEST_TIME,
    TIME,
    USER,
    VAL_TIME,
)


def k_core_mask(user: Tensor, item: Tensor, k: int) -> Tensor:
    r"""Returns the mask of the interactions that survive the iterative
    :obj:`k`-core: every remaining user and item has at least :obj:`k`
    remaining interactions."""
    keep = torch.ones(user.numel(), dtype=torch.bool)
    if k <= 1:
        return keep
    while True:
        u_deg = torch.bincount(user[keep], minlength=int(user.max()) + 1)
        i_deg = torch.bincount(item[keep], minlength=int(item.max()) + 1)
        new = keep & (u_deg[user] >= k) & (i_deg[item] >= k)
        if torch.equal(new, keep):
            return keep
        keep = new


def check_ratios(ratios: Any) -> Tuple[float, float, float]:
    r"""Returns :obj:`ratios` as three floats after checking that they are
    finite, non-negative train/val/test weights with a positive train
    weight; raises a :class:`ValueError` naming :obj:`ratios` otherwise."""
    try:
        out = tuple(ratios)
    except TypeError:
        out = ()
    if not (len(out) == 3 and all(
            isinstance(r, numbers.Real) and not isinstance(r, bool)
            and math.isfinite(r) for r in out)
            and min(out) >= 0 and out[0] > 0):
        raise ValueError(f"'ratios' must be three finite, non-negative "
                         f"train/val/test weights with a positive train "
                         f"weight (got {ratios!r})")
    return float(out[0]), float(out[1]), float(out[2])


def split_per_user(user: Tensor, ratios: Sequence[float] = (0.6, 0.2, 0.2),
                   seed: int = 0) -> Tensor:
    r"""Assigns each interaction to train (:obj:`0`), validation (:obj:`1`)
    or test (:obj:`2`): a seeded random split of every user's interactions
    with :math:`\lfloor n r_{val} + 1/2 \rfloor` validation and
    :math:`\lfloor n r_{test} + 1/2 \rfloor` test items, and at least one
    training item per user."""
    ratios = check_ratios(ratios)
    total = float(sum(ratios))
    r_val, r_test = ratios[1] / total, ratios[2] / total
    gen = torch.Generator().manual_seed(seed)
    prio = torch.rand(user.numel(), generator=gen, dtype=torch.float64)
    # Sort by user, then by the random priority.
    order = torch.from_numpy(np.lexsort((prio.numpy(), user.numpy())))
    count = torch.bincount(user)
    start = torch.cumsum(count, 0) - count
    sorted_user = user[order]
    rank = torch.arange(user.numel()) - start[sorted_user]
    n = count[sorted_user].double()
    n_test = torch.floor(n * r_test + 0.5)
    n_val = torch.floor(n * r_val + 0.5)
    # At least one training interaction: shrink test first, then validation.
    n_test = torch.minimum(n_test, n - 1)
    n_val = torch.minimum(n_val, n - 1 - n_test)
    split_sorted = torch.zeros(user.numel(), dtype=torch.long)
    split_sorted[rank < n_test + n_val] = 1
    split_sorted[rank < n_test] = 2
    split = torch.empty_like(split_sorted)
    split[order] = split_sorted
    return split


def encode_ids(values: Sequence) -> Tuple[Tensor, np.ndarray]:
    r"""Maps arbitrary ids to :obj:`0..n-1` in sorted order; returns the
    codes and the sorted unique original ids."""
    uniq, codes = np.unique(np.asarray(values), return_inverse=True)
    return torch.from_numpy(codes.astype(np.int64).reshape(-1)), uniq


def interactions_to_data(user_ids: Sequence, item_ids: Sequence,
                         rating: Optional[Sequence[float]] = None,
                         time: Optional[Sequence[float]] = None,
                         min_rating: Optional[float] = None, k_core: int = 0,
                         ratios: Sequence[float] = (0.6, 0.2, 0.2),
                         seed: int = 0) -> HeteroData:
    r"""Builds the bipartite graph from raw interactions.

    In order: drop interactions rated below :obj:`min_rating`; keep the first
    of duplicated (user, item) pairs; apply the iterative :obj:`k_core`; map
    the surviving ids to contiguous indices (kept as :obj:`raw_id`); split
    every user's interactions with :func:`split_per_user`. Timestamps, when
    given, are stored per split (:obj:`time`, :obj:`val_time`,
    :obj:`test_time`).
    """
    if len(user_ids) != len(item_ids):
        raise ValueError(f"'user_ids' and 'item_ids' must have equal length "
                         f"(got {len(user_ids)} and {len(item_ids)})")
    if len(user_ids) == 0:
        raise ValueError("Expected at least one interaction (got none)")
    user, user_raw = encode_ids(user_ids)
    item, item_raw = encode_ids(item_ids)
    keep = torch.ones(user.numel(), dtype=torch.bool)
    if min_rating is not None:
        if rating is None:
            raise ValueError("'min_rating' needs a 'rating' column")
        keep &= torch.as_tensor(np.asarray(rating, dtype=np.float64)) \
            >= min_rating
    keys = user * len(item_raw) + item
    first = np.unique(keys.numpy(), return_index=True)[1]
    dedup = torch.zeros_like(keep)
    dedup[torch.from_numpy(first)] = True
    keep &= dedup
    idx = keep.nonzero().view(-1)
    idx = idx[k_core_mask(user[idx], item[idx], k_core)]
    if idx.numel() == 0:
        raise ValueError(f"No interaction survives the filters (min_rating="
                         f"{min_rating}, k_core={k_core})")
    user, u_raw = encode_ids(user_raw[user[idx].numpy()])
    item, i_raw = encode_ids(item_raw[item[idx].numpy()])
    split = split_per_user(user, ratios, seed)
    index = torch.stack([user, item])
    data = build_rec_data(len(u_raw), len(i_raw), index[:, split == 0],
                          index[:, split == 1], index[:, split == 2])
    data[USER][RAW_ID] = [str(v) for v in u_raw]
    data[ITEM][RAW_ID] = [str(v) for v in i_raw]
    if time is not None:
        t = torch.as_tensor(np.asarray(time, dtype=np.int64))[idx]
        for s, key in enumerate((TIME, VAL_TIME, TEST_TIME)):
            data[EDGE][key] = t[split == s]
    return data

r"""Top-:math:`k` recommendation from user and item embeddings: exact
(chunked dot products, on any device), or through PyG's
:class:`~torch_geometric.nn.pool.MIPSKNNIndex` (exact, faiss) and
:class:`~torch_geometric.nn.pool.ApproxMIPSKNNIndex` (inverted file with
product quantisation, faiss) for large catalogues."""
import math
import warnings
from typing import Optional, Tuple

import torch
from torch import Tensor

from rlmrec_pyg.train.evaluate import top_items, user_ptr

INDEXES = ('exact', 'mips', 'approx')


def _check_emb(value: object, name: str) -> Tensor:
    if not isinstance(value, Tensor) or value.dim() != 2 \
            or not value.is_floating_point():
        shape = (list(value.shape) if isinstance(value, Tensor)
                 else type(value).__name__)
        raise ValueError(f"'{name}' must be a 2-D floating-point tensor "
                         f"(got {shape})")
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"'{name}' holds NaN or infinite values")
    return value


def default_approx_params(num_items: int,
                          channels: int) -> Tuple[int, int, int]:
    r"""Defaults of :class:`~torch_geometric.nn.pool.ApproxMIPSKNNIndex`
    for :obj:`num_items` vectors of width :obj:`channels`:
    :math:`\lceil 4\sqrt{n} \rceil` cells (at least 39 training vectors per
    cell, faiss' minimum), a quarter of them visited, and one 8-bit code per
    two dimensions (the largest divisor of :obj:`channels` not above
    :obj:`channels / 2`)."""
    cells = max(1, min(int(math.ceil(4 * math.sqrt(num_items))),
                       num_items // 39))
    visit = max(1, cells // 4)
    sub = max(d for d in range(1, max(1, channels // 2) + 1)
              if channels % d == 0)
    return cells, visit, sub


def approx_mips_index(emb: Tensor, num_cells: int, num_cells_to_visit: int,
                      bits_per_vector: int) -> object:
    r"""PyG's :class:`~torch_geometric.nn.pool.ApproxMIPSKNNIndex` over
    :obj:`emb`, without faiss' line per sub-quantiser when it trains on
    fewer than 39 vectors per code (:class:`TopKRecommender` warns once)."""
    from torch_geometric.nn.pool import ApproxMIPSKNNIndex

    class QuietApproxMIPSKNNIndex(ApproxMIPSKNNIndex):
        def _create_index(self, channels: int) -> object:
            index = super()._create_index(channels)
            index.cp.min_points_per_centroid = 1
            index.pq.cp.min_points_per_centroid = 1
            return index

    return QuietApproxMIPSKNNIndex(num_cells, num_cells_to_visit,
                                   bits_per_vector, emb=emb)


class TopKRecommender:
    r"""Recommends the :math:`k` items of highest score
    :math:`\hat{y}_{u,i} = \mathbf{z}_u^{\top} \mathbf{z}_i` to users, the
    items they have already interacted with excluded.

    .. code-block:: python

        rec = TopKRecommender(z['user'], z['item'],
                              seen_index=data['user', 'to', 'item'].edge_index)
        scores, items = rec.recommend(torch.tensor([0, 5]), k=20)

    Args:
        user_emb (torch.Tensor): User embeddings :obj:`[U, d]`.
        item_emb (torch.Tensor): Item embeddings :obj:`[I, d]`.
        seen_index (torch.Tensor, optional): Interactions :obj:`[2, E]`
            (users, items) excluded when :obj:`exclude_seen`.
            (default: :obj:`None`)
        index (str, optional): :obj:`"exact"` (dot products over every
            item, in chunks of :obj:`item_batch_size`), :obj:`"mips"`
            (PyG's :class:`~torch_geometric.nn.pool.MIPSKNNIndex`) or
            :obj:`"approx"` (PyG's
            :class:`~torch_geometric.nn.pool.ApproxMIPSKNNIndex`). faiss
            returns at most 2048 neighbours, and the index is asked for
            :math:`k` plus the most items a user of the batch has seen: the
            users whose lists come back short are ranked exactly.
            (default: :obj:`"exact"`)
        batch_size (int, optional): Users per search. (default: :obj:`1024`)
        item_batch_size (int, optional): Items per score matrix of the exact
            search. (default: :obj:`65536`)
        num_cells (int, optional): Cells of the approximate index.
        num_cells_to_visit (int, optional): Cells searched per query.
        bits_per_vector (int, optional): Sub-quantisers per vector (must
            divide :math:`d`). Defaults of the three:
            :func:`default_approx_params`.
    """
    def __init__(self, user_emb: Tensor, item_emb: Tensor,
                 seen_index: Optional[Tensor] = None, index: str = 'exact',
                 batch_size: int = 1024, item_batch_size: int = 65536,
                 num_cells: Optional[int] = None,
                 num_cells_to_visit: Optional[int] = None,
                 bits_per_vector: Optional[int] = None) -> None:
        self.user_emb = _check_emb(user_emb, 'user_emb').detach()
        self.item_emb = _check_emb(item_emb, 'item_emb').detach()
        if self.user_emb.size(1) != self.item_emb.size(1):
            raise ValueError(f"'user_emb' and 'item_emb' must have the same "
                             f"width (got {self.user_emb.size(1)} and "
                             f"{self.item_emb.size(1)})")
        if index not in INDEXES:
            raise ValueError(f"'index' must be one of "
                             f"{', '.join(map(repr, INDEXES))} (got "
                             f"{index!r})")
        for name, value in (('batch_size', batch_size),
                            ('item_batch_size', item_batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) \
                    or value <= 0:
                raise ValueError(f"'{name}' must be a positive integer (got "
                                 f"{value!r})")
        self.index_name = index
        self.batch_size, self.item_batch_size = batch_size, item_batch_size
        num_users, num_items = self.user_emb.size(0), self.item_emb.size(0)
        if seen_index is None:
            seen_index = torch.empty(2, 0, dtype=torch.long)
        if (not isinstance(seen_index, Tensor) or seen_index.dim() != 2
                or seen_index.size(0) != 2):
            raise ValueError("'seen_index' must be a [2, E] tensor of (user, "
                             "item) pairs")
        seen_index = seen_index.to(self.user_emb.device, torch.long)
        if seen_index.numel() and (
                int(seen_index.min()) < 0
                or int(seen_index[0].max()) >= num_users
                or int(seen_index[1].max()) >= num_items):
            raise ValueError(f"'seen_index' holds ids out of range (expected "
                             f"users < {num_users} and items < {num_items})")
        self.seen = seen_index[:, seen_index[0].argsort(stable=True)]
        self.seen_ptr = user_ptr(self.seen, num_users)
        self.params = None
        self.index = None
        if index != 'exact':
            self.index = self._build_index(index, num_cells,
                                           num_cells_to_visit,
                                           bits_per_vector)

    def _build_index(self, index: str, num_cells: Optional[int],
                     visit: Optional[int], bits: Optional[int]) -> object:
        try:
            import faiss  # noqa: F401
        except ImportError as e:
            raise ImportError(f"index='{index}' needs faiss: pip install "
                              f"'rlmrec_pyg[index]' (or faiss-cpu / "
                              f"faiss-gpu)") from e
        from torch_geometric.nn.pool import MIPSKNNIndex
        item_emb = self.item_emb.float().contiguous()
        if index == 'mips':
            return MIPSKNNIndex(item_emb)
        d_cells, d_visit, d_bits = default_approx_params(
            item_emb.size(0), item_emb.size(1))
        self.params = dict(num_cells=num_cells or d_cells,
                           num_cells_to_visit=visit or d_visit,
                           bits_per_vector=bits or d_bits)
        if item_emb.size(1) % self.params['bits_per_vector']:
            raise ValueError(f"'bits_per_vector' must divide the embedding "
                             f"width {item_emb.size(1)} (got "
                             f"{self.params['bits_per_vector']})")
        if item_emb.size(0) < 39 * 256:
            warnings.warn(f"The approximate index learns 256 codes per "
                          f"sub-vector from {item_emb.size(0)} items (faiss "
                          f"asks for at least {39 * 256}): for a catalogue "
                          f"this small index='exact' is as fast",
                          stacklevel=3)
        return approx_mips_index(item_emb, **self.params)

    def _seen_of(self, batch: Tensor) -> Tensor:
        # (row in the batch, item) pairs of the batch users' seen items.
        starts, ends = self.seen_ptr[batch], self.seen_ptr[batch + 1]
        count = ends - starts
        row = torch.repeat_interleave(
            torch.arange(batch.numel(), device=batch.device), count)
        offset = torch.arange(int(count.sum()), device=batch.device) - \
            torch.repeat_interleave(count.cumsum(0) - count, count)
        col = self.seen[1, starts[row] + offset]
        return torch.stack([row, col])

    def _exact(self, batch: Tensor, pairs: Tensor,
               k: int) -> Tuple[Tensor, Tensor]:
        return top_items(self.user_emb[batch], self.item_emb, pairs[0],
                         pairs[1], k, self.item_batch_size, False, batch)

    def _search(self, batch: Tensor, pairs: Tensor,
                k: int) -> Tuple[Tensor, Tensor]:
        # faiss returns at most 2048 neighbours: PyG asks for k plus the
        # most items a user of the batch has seen, so the rows of users who
        # have seen more come back short; they are ranked exactly instead.
        out = self.index.search(self.user_emb[batch].float().contiguous(), k,
                                exclude_links=pairs if pairs.numel() else None)
        idx = out.index
        val = out.score.to(self.user_emb.dtype).masked_fill(idx < 0,
                                                            float('-inf'))
        num_items = self.item_emb.size(0)
        keys = torch.unique(pairs[0] * num_items + pairs[1])
        seen = torch.bincount(keys // num_items, minlength=batch.numel())
        expected = (num_items - seen).clamp(max=k)
        short = ((idx >= 0).sum(dim=1) < expected).nonzero().view(-1)
        if short.numel():
            rows = batch[short]
            exact_val, exact_idx = self._exact(rows, self._seen_of(rows), k)
            val[short], idx[short] = exact_val.to(val), exact_idx
        return val, idx

    @torch.no_grad()
    def recommend(self, users: Optional[Tensor] = None, k: int = 20,
                  exclude_seen: bool = True) -> Tuple[Tensor, Tensor]:
        r"""Returns the scores and the items :obj:`[len(users), k]` of the
        top :obj:`k` items of every user of :obj:`users` (all users if
        :obj:`None`), best first. Where fewer than :obj:`k` items are left
        (a user has seen almost every item), the tail is :obj:`-1` with
        score :obj:`-inf`."""
        num_users, num_items = self.user_emb.size(0), self.item_emb.size(0)
        if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
            raise ValueError(f"'k' must be a positive integer (got {k!r})")
        if users is None:
            users = torch.arange(num_users, device=self.user_emb.device)
        users = torch.as_tensor(users, dtype=torch.long,
                                device=self.user_emb.device).view(-1)
        if users.numel() and (int(users.min()) < 0
                              or int(users.max()) >= num_users):
            raise ValueError(f"'users' must be user ids in [0, {num_users}) "
                             f"(got min {int(users.min())}, max "
                             f"{int(users.max())})")
        scores, items = [], []
        for start in range(0, users.numel(), self.batch_size):
            batch = users[start:start + self.batch_size]
            pairs = (self._seen_of(batch) if exclude_seen
                     else batch.new_empty(2, 0))
            if self.index is None:
                val, idx = self._exact(batch, pairs, min(k, num_items))
            else:
                val, idx = self._search(batch, pairs, min(k, num_items))
            scores.append(val)
            items.append(idx)
        if not scores:
            empty = self.user_emb.new_empty(0, k)
            return empty, empty.long()
        score, item = torch.cat(scores), torch.cat(items)
        if item.size(1) < k:  # fewer items than k
            pad = k - item.size(1)
            score = torch.cat([score, score.new_full((score.size(0), pad),
                                                     float('-inf'))], 1)
            item = torch.cat([item, item.new_full((item.size(0), pad), -1)],
                             1)
        item = item.masked_fill(torch.isneginf(score), -1)
        return score, item

    def __repr__(self) -> str:
        params = f', {self.params}' if self.params else ''
        return (f'{type(self).__name__}(users={self.user_emb.size(0)}, '
                f'items={self.item_emb.size(0)}, '
                f'index={self.index_name!r}{params})')

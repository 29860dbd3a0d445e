r"""A seeded synthetic catalogue of any size: power-law user and item
degrees, planted taste clusters, optional semantic vectors and item text
(for tests and the scaling benchmark, where no real dataset has the size
asked for)."""
import math
from typing import Sequence

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from rlmrec_pyg.data.graph import build_rec_data
from rlmrec_pyg.typing import ITEM, USER

_GENRES = ('Drama', 'Comedy', 'Action', 'Sci-Fi', 'Romance', 'Horror',
           'Mystery', 'Fantasy', 'History', 'Travel', 'Cooking', 'Poetry')


def _check(name: str, value, ok: bool, expected: str) -> None:
    if not ok:
        raise ValueError(f"'{name}' must be {expected} in "
                         f"'synthetic_catalogue' (got {value!r})")


def _zipf_weights(num: int, exponent: float, gen: torch.Generator) -> Tensor:
    # Weight (rank + 1)^-s, ranks shuffled so ids do not tell the degree.
    rank = torch.randperm(num, generator=gen).double()
    return (rank + 1).pow(-exponent)


def _draw_items(user_cluster: Tensor, item_cluster: Tensor,
                item_weight: Tensor, num_clusters: int, in_cluster: float,
                gen: torch.Generator) -> Tensor:
    # Inverse-CDF draws: from the user's cluster (items weighted by
    # popularity) with probability `in_cluster`, else from every item.
    order = item_cluster.argsort(stable=True)
    cum = item_weight[order].cumsum(0)
    counts = torch.bincount(item_cluster, minlength=num_clusters)
    ends = cum[counts.cumsum(0) - 1]
    starts = torch.cat([ends.new_zeros(1), ends[:-1]])
    n = user_cluster.numel()
    u = torch.rand(n, generator=gen, dtype=torch.float64)
    own = torch.rand(n, generator=gen) < in_cluster
    lo = torch.where(own, starts[user_cluster], ends.new_zeros(()))
    hi = torch.where(own, ends[user_cluster], cum[-1])
    pos = torch.searchsorted(cum, lo + u * (hi - lo), right=True)
    return order[pos.clamp_(max=cum.numel() - 1)]


def synthetic_catalogue(num_users: int, num_items: int,
                        num_interactions: int, num_clusters: int = 16,
                        in_cluster: float = 0.8, user_exponent: float = 0.6,
                        item_exponent: float = 0.8,
                        split: Sequence[float] = (3, 1, 1),
                        sem_channels: int = 0, sem_noise: float = 0.5,
                        sem_dtype: torch.dtype = torch.float32,
                        with_text: bool = False, seed: int = 0
                        ) -> HeteroData:
    r"""Returns a seeded synthetic user-item graph in the
    :mod:`rlmrec_pyg.data` representation, with exactly
    :obj:`num_interactions` distinct interactions over all splits.

    Every interaction draws a user with probability
    :math:`p_u \propto r_u^{-s_U}` (:math:`r_u` a random rank in
    :math:`1..|\mathcal{U}|`, :math:`s_U` = :obj:`user_exponent`) and an
    item with probability :math:`\propto r_i^{-s_I}`, restricted with
    probability :obj:`in_cluster` to the items of the user's taste cluster
    (users and items get one of :obj:`num_clusters` clusters uniformly at
    random), so degrees follow power laws and the graph carries a
    collaborative signal. Repeated pairs are drawn again until the count is
    reached. The interactions are split at random in the ratio
    :obj:`split` (train, val, test), except that the first interaction of
    every user and of every item goes to training. With
    :obj:`sem_channels > 0`, :obj:`sem_emb` of every node is its cluster's
    random centroid plus Gaussian noise of scale :obj:`sem_noise`
    (:obj:`sem_dtype`, *e.g.* :obj:`torch.float16` at scale); with
    :obj:`with_text=True` items carry a :obj:`title`, :obj:`genres` (the
    cluster's) and a :obj:`description`.

    .. code-block:: python

        data = synthetic_catalogue(100_000, 50_000, 10_000_000, seed=0)

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        num_interactions (int): Distinct interactions over all splits (at
            most half of :obj:`num_users * num_items`).
        num_clusters (int, optional): Taste clusters. (default: :obj:`16`)
        in_cluster (float, optional): Probability that an item is drawn
            from the user's cluster. (default: :obj:`0.8`)
        user_exponent (float, optional): :math:`s_U \geq 0`.
            (default: :obj:`0.6`)
        item_exponent (float, optional): :math:`s_I \geq 0`.
            (default: :obj:`0.8`)
        split (Sequence[float], optional): Train / val / test ratio.
            (default: :obj:`(3, 1, 1)`)
        sem_channels (int, optional): Width of :obj:`sem_emb`; :obj:`0`
            leaves it out. (default: :obj:`0`)
        sem_noise (float, optional): Noise scale of :obj:`sem_emb`.
            (default: :obj:`0.5`)
        sem_dtype (torch.dtype, optional): Type of :obj:`sem_emb`.
            (default: :obj:`torch.float32`)
        with_text (bool, optional): Add item text. (default: :obj:`False`)
        seed (int, optional): Seed. (default: :obj:`0`)
    """
    for name, value in (('num_users', num_users), ('num_items', num_items),
                        ('num_interactions', num_interactions),
                        ('num_clusters', num_clusters)):
        _check(name, value, isinstance(value, int)
               and not isinstance(value, bool) and value > 0,
               'a positive integer')
    _check('num_interactions', num_interactions,
           num_interactions <= num_users * num_items // 2,
           f'at most half of num_users * num_items '
           f'({num_users * num_items // 2})')
    _check('num_clusters', num_clusters,
           num_clusters <= min(num_users, num_items),
           f'at most min(num_users, num_items) '
           f'({min(num_users, num_items)})')
    _check('in_cluster', in_cluster, 0 <= in_cluster <= 1, 'in [0, 1]')
    for name, value in (('user_exponent', user_exponent),
                        ('item_exponent', item_exponent),
                        ('sem_noise', sem_noise)):
        _check(name, value, math.isfinite(value) and value >= 0,
               'a finite number >= 0')
    ratio = [float(r) for r in split]
    _check('split', split, len(ratio) == 3 and all(r >= 0 for r in ratio)
           and ratio[0] > 0, 'three ratios >= 0 with a positive train ratio')
    _check('sem_channels', sem_channels,
           isinstance(sem_channels, int) and sem_channels >= 0,
           'an integer >= 0')
    gen = torch.Generator().manual_seed(seed)
    user_weight = _zipf_weights(num_users, user_exponent, gen)
    item_weight = _zipf_weights(num_items, item_exponent, gen)
    user_cluster = torch.randint(num_clusters, (num_users, ), generator=gen)
    # Every cluster gets items (the first ones in a random order).
    item_cluster = torch.randint(num_clusters, (num_items, ), generator=gen)
    item_cluster[torch.randperm(num_items, generator=gen)[:num_clusters]] = \
        torch.arange(num_clusters)
    user_cum = user_weight.cumsum(0)
    keys = torch.empty(0, dtype=torch.long)
    while keys.numel() < num_interactions:
        need = num_interactions - keys.numel()
        n = max(1024, int(need * 1.2))
        user = torch.searchsorted(
            user_cum, torch.rand(n, generator=gen, dtype=torch.float64) *
            user_cum[-1], right=True).clamp_(max=num_users - 1)
        item = _draw_items(user_cluster[user], item_cluster, item_weight,
                           num_clusters, in_cluster, gen)
        keys = torch.cat([keys, user * num_items + item]).unique()
    keys = keys[torch.randperm(keys.numel(), generator=gen)]
    keys = keys[:num_interactions]
    user, item = keys // num_items, keys % num_items
    label = torch.multinomial(torch.tensor(ratio), num_interactions,
                              replacement=True, generator=gen)
    for ids, num in ((user, num_users), (item, num_items)):
        first = torch.full((num, ), num_interactions, dtype=torch.long)
        first.scatter_reduce_(0, ids, torch.arange(num_interactions), 'amin')
        label[first[first < num_interactions]] = 0
    index = torch.stack([user, item])
    data = build_rec_data(num_users, num_items, index[:, label == 0],
                          index[:, label == 1], index[:, label == 2])
    data[USER].cluster = user_cluster
    data[ITEM].cluster = item_cluster
    if sem_channels > 0:
        centroid = torch.randn(num_clusters, sem_channels, generator=gen)
        for node_type, cluster in ((USER, user_cluster),
                                   (ITEM, item_cluster)):
            sem = torch.randn(cluster.numel(), sem_channels, generator=gen)
            sem.mul_(sem_noise).add_(centroid[cluster])
            data[node_type].sem_emb = sem.to(sem_dtype)
    if with_text:
        genres = [_GENRES[c % len(_GENRES)] for c in item_cluster.tolist()]
        data[ITEM].title = [f'Item {i}' for i in range(num_items)]
        data[ITEM].genres = genres
        data[ITEM].description = [
            f'A {g.lower()} title of taste cluster {c}, number {i}.'
            for i, (g, c) in enumerate(zip(genres, item_cluster.tolist()))
        ]
    return data

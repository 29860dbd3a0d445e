r"""Small fake datasets and helpers for fast tests — ours and our users'.

.. code-block:: python

    from rlmrec_pyg.testing import get_random_rec_data
    data = get_random_rec_data(num_users=20, num_items=30, sem_channels=8)
    data.edge_index_dict  # what an encoder sees
"""
import torch
from torch_geometric.data import HeteroData

from rlmrec_pyg.data.graph import build_rec_data
from rlmrec_pyg.semantic.encoder import HashTextEncoder
from rlmrec_pyg.typing import ITEM, USER

__all__ = ['get_random_rec_data', 'get_clustered_rec_data', 'HashTextEncoder']

_GENRES = ['Drama', 'Comedy', 'Action', 'Sci-Fi', 'Romance', 'Horror']


def get_random_rec_data(num_users: int = 20, num_items: int = 30,
                        num_interactions: int = 200, sem_channels: int = 8,
                        with_text: bool = True, seed: int = 0) -> HeteroData:
    r"""Returns a random text-attributed bipartite graph in the
    :mod:`rlmrec_pyg.data` representation.

    Interactions are drawn uniformly without duplicates, split per user
    roughly 3:1:1 with at least one training item per user; every item also
    gets at least one training interaction when :obj:`num_interactions`
    allows. :obj:`sem_emb` is set for users and items, and with
    :obj:`with_text=True` items carry :obj:`title`, :obj:`genres` and
    :obj:`description`.

    Args:
        num_users (int, optional): Number of users. (default: :obj:`20`)
        num_items (int, optional): Number of items. (default: :obj:`30`)
        num_interactions (int, optional): Number of interactions over all
            splits before de-duplication. (default: :obj:`200`)
        sem_channels (int, optional): Width of :obj:`sem_emb`; :obj:`0`
            leaves it out. (default: :obj:`8`)
        with_text (bool, optional): Add item text. (default: :obj:`True`)
        seed (int, optional): Seed of the generator. (default: :obj:`0`)
    """
    gen = torch.Generator().manual_seed(seed)
    # Guarantee one interaction per user and per item, then add random ones.
    users = torch.cat([
        torch.arange(num_users),
        torch.randint(num_users, (num_items, ), generator=gen),
        torch.randint(num_users, (num_interactions, ), generator=gen)
    ])
    items = torch.cat([
        torch.randint(num_items, (num_users, ), generator=gen),
        torch.arange(num_items),
        torch.randint(num_items, (num_interactions, ), generator=gen)
    ])
    forced = torch.zeros(users.numel(), dtype=torch.bool)
    forced[:num_users + num_items] = True
    keys = users * num_items + items
    # Keep the first occurrence of each pair (forced ones come first).
    uniq, inverse = torch.unique(keys, return_inverse=True)
    first = torch.full((uniq.numel(), ), keys.numel(), dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(keys.numel()), 'amin')
    users, items, forced = users[first], items[first], forced[first]
    split = torch.multinomial(torch.tensor([0.6, 0.2, 0.2]), users.numel(),
                              replacement=True, generator=gen)
    split[forced] = 0
    index = torch.stack([users, items])
    data = build_rec_data(num_users, num_items, index[:, split == 0],
                          index[:, split == 1], index[:, split == 2])
    if sem_channels > 0:
        data[USER].sem_emb = torch.randn(num_users, sem_channels,
                                         generator=gen)
        data[ITEM].sem_emb = torch.randn(num_items, sem_channels,
                                         generator=gen)
    if with_text:
        genres = [_GENRES[i % len(_GENRES)] for i in range(num_items)]
        data[ITEM].title = [f'Item {i}' for i in range(num_items)]
        data[ITEM].genres = genres
        data[ITEM].description = [
            f'A {g.lower()} story number {i}.' for i, g in enumerate(genres)
        ]
    return data


def get_clustered_rec_data(num_users: int = 60, num_items: int = 80,
                           num_clusters: int = 4,
                           interactions_per_user: int = 16,
                           in_cluster: float = 0.9, sem_channels: int = 16,
                           sem_noise: float = 0.5, with_text: bool = True,
                           seed: int = 0) -> HeteroData:
    r"""Returns a bipartite graph with planted taste clusters, for tests
    that must see a model *learn*: user :math:`u` and item :math:`i` belong
    to clusters :math:`u \bmod C` and :math:`i \bmod C`; every user draws
    :obj:`interactions_per_user` distinct items, each from its own cluster
    with probability :obj:`in_cluster`, else from any cluster. A
    collaborative-filtering model beats popularity and random ranking on
    it; :obj:`sem_emb` is the cluster's random centroid plus Gaussian noise
    of scale :obj:`sem_noise`, so the semantic vectors carry the clusters
    too (and lose them when shuffled); item text names the cluster's genre.
    Interactions are split per user 3:1:1 with at least one training item
    (:func:`~rlmrec_pyg.data.interactions.split_per_user`).

    Args:
        num_users (int, optional): Number of users. (default: :obj:`60`)
        num_items (int, optional): Number of items. (default: :obj:`80`)
        num_clusters (int, optional): Number of clusters :math:`C`.
            (default: :obj:`4`)
        interactions_per_user (int, optional): Items drawn per user.
            (default: :obj:`16`)
        in_cluster (float, optional): Probability that a draw stays in the
            user's cluster. (default: :obj:`0.9`)
        sem_channels (int, optional): Width of :obj:`sem_emb`; :obj:`0`
            leaves it out. (default: :obj:`16`)
        sem_noise (float, optional): Noise scale of :obj:`sem_emb`.
            (default: :obj:`0.5`)
        with_text (bool, optional): Add item text. (default: :obj:`True`)
        seed (int, optional): Seed of the generator. (default: :obj:`0`)
    """
    from rlmrec_pyg.data.interactions import split_per_user
    if not 0 < num_clusters <= min(num_users, num_items):
        raise ValueError(f"'num_clusters' must lie in [1, min(num_users, "
                         f"num_items)] (got {num_clusters})")
    per_cluster = num_items // num_clusters
    if not 0 < interactions_per_user <= per_cluster:
        raise ValueError(f"'interactions_per_user' must lie in [1, "
                         f"{per_cluster}] (the items of one cluster; got "
                         f"{interactions_per_user})")
    gen = torch.Generator().manual_seed(seed)
    users, items = [], []
    for u in range(num_users):
        cluster = u % num_clusters
        own = torch.arange(cluster, num_items, num_clusters)
        chosen: set = set()
        while len(chosen) < interactions_per_user:
            if float(torch.rand((), generator=gen)) < in_cluster:
                pick = own[torch.randint(own.numel(), (), generator=gen)]
            else:
                pick = torch.randint(num_items, (), generator=gen)
            chosen.add(int(pick))
        users += [u] * len(chosen)
        items += sorted(chosen)
    user, item = torch.tensor(users), torch.tensor(items)
    split = split_per_user(user, (3, 1, 1), seed=seed)
    index = torch.stack([user, item])
    data = build_rec_data(num_users, num_items, index[:, split == 0],
                          index[:, split == 1], index[:, split == 2])
    if sem_channels > 0:
        centroid = torch.randn(num_clusters, sem_channels, generator=gen)
        for node_type, num in ((USER, num_users), (ITEM, num_items)):
            noise = torch.randn(num, sem_channels, generator=gen)
            data[node_type].sem_emb = (
                centroid[torch.arange(num) % num_clusters] +
                sem_noise * noise)
    if with_text:
        genres = [_GENRES[(i % num_clusters) % len(_GENRES)]
                  for i in range(num_items)]
        data[ITEM].title = [f'Item {i}' for i in range(num_items)]
        data[ITEM].genres = genres
        data[ITEM].description = [
            f'A {g.lower()} story number {i}.' for i, g in enumerate(genres)
        ]
    return data

r"""Noisy training interactions for the robustness study (paper §4.4, RQ3,
Fig. 5)."""
import copy

import torch
from torch_geometric.data import HeteroData

from rlmrec_pyg.typing import EDGE, ITEM, REV_EDGE, TEST_INDEX, USER, VAL_INDEX


def add_noise_interactions(data: HeteroData, ratio: float,
                           seed: int = 0) -> HeteroData:
    r"""Returns a copy of :obj:`data` with
    :math:`\lfloor \text{ratio} \cdot |\mathcal{E}_{train}| \rfloor` random
    user-item pairs added to the training interactions; none of them exists
    in any split, and none is added twice. Validation and test are
    unchanged.

    Args:
        data (HeteroData): A graph in the :mod:`rlmrec_pyg.data`
            representation.
        ratio (float): Noise ratio, *e.g.*, :obj:`0.05` to :obj:`0.25`.
        seed (int, optional): Seed of the draw. (default: :obj:`0`)
    """
    if ratio < 0:
        raise ValueError(f"'ratio' must be non-negative (got {ratio})")
    num_users, num_items = data[USER].num_nodes, data[ITEM].num_nodes
    train = data[EDGE].edge_index
    num_new = int(ratio * train.size(1))
    taken = torch.cat([
        train, data[EDGE].get(VAL_INDEX, train[:, :0]),
        data[EDGE].get(TEST_INDEX, train[:, :0])
    ], dim=1)
    taken_keys = taken[0] * num_items + taken[1]
    free = num_users * num_items - taken_keys.unique().numel()
    if num_new > free:
        raise ValueError(f"Cannot add {num_new} noise interactions: only "
                         f"{free} user-item pairs are free")
    gen = torch.Generator().manual_seed(seed)
    new_keys = torch.empty(0, dtype=torch.long)
    while new_keys.numel() < num_new:
        draw = torch.randint(num_users * num_items,
                             (2 * (num_new - new_keys.numel()) + 16, ),
                             generator=gen)
        draw = draw[~torch.isin(draw, taken_keys)]
        draw = draw[~torch.isin(draw, new_keys)]
        # Keep first occurrences in draw order (no sort: stay uniform).
        uniq, inv = torch.unique(draw, return_inverse=True)
        first = torch.full((uniq.numel(), ), draw.numel(), dtype=torch.long)
        first.scatter_reduce_(0, inv, torch.arange(draw.numel()), 'amin')
        draw = draw[first.sort()[0]]
        new_keys = torch.cat([new_keys, draw])[:num_new]
    noise = torch.stack([new_keys // num_items, new_keys % num_items])
    out = copy.copy(data)
    out[EDGE].edge_index = torch.cat([train, noise], dim=1)
    out[REV_EDGE].edge_index = out[EDGE].edge_index.flip(0)
    return out

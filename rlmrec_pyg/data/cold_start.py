r"""A cold-start split: whole items held out, their interactions kept for
testing only, so that a model trained on the other items can be asked to
place them from their text alone.

Two transforms, around the semantic vectors:

1. :class:`HoldOutItems` (before profiling and encoding): draws the cold
   items, moves every interaction of theirs (any split) to
   :obj:`data['user', 'to', 'item'].cold_test_index`, and clears their
   feedback text (:obj:`reviews`, :obj:`tags`: written by the users who
   interacted with them, which a new item does not have yet), so that
   their profiles come from their own text (title, description, genres).
2. :class:`DropColdItems` (after the semantic vectors are attached):
   removes the cold items from the graph, re-indexing the others, and
   keeps what a cold-start evaluation needs as graph attributes:
   :obj:`data.cold_sem_emb` (their semantic vectors, row :obj:`c` is cold
   item :obj:`c`), :obj:`data.cold_test_index` (user, cold item) and
   :obj:`data.cold_raw_id`. The model then never sees a cold item, not
   even as a sampled negative.
"""
from typing import Any, List

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from rlmrec_pyg.data.graph import build_rec_data
from rlmrec_pyg.data.transforms import SPLITS
from rlmrec_pyg.typing import (EDGE, ITEM, RAW_ID, REV_EDGE, SEM_EMB,
                               TEST_INDEX, USER, VAL_INDEX)

#: Per-item text written by users, cleared for cold items.
FEEDBACK = ('reviews', 'tags')
COLD = 'cold'
COLD_INDEX = 'cold_test_index'


class HoldOutItems(BaseTransform):
    r"""Holds out :math:`\mathrm{round}(f \cdot |\mathcal{I}|)` items drawn
    uniformly (seeded): all their interactions move to
    :obj:`cold_test_index`, their feedback text is cleared, and
    :obj:`data['item'].cold` marks them.

    Args:
        fraction (float): The fraction of items held out, in :math:`(0, 1)`.
        seed (int, optional): Seed of the draw. (default: :obj:`0`)
    """
    def __init__(self, fraction: float, seed: int = 0) -> None:
        if isinstance(fraction, bool) or not 0 < float(fraction) < 1:
            raise ValueError(f"'cold_items' must be a fraction in (0, 1) "
                             f"(got {fraction!r})")
        self.fraction, self.seed = float(fraction), int(seed)

    def forward(self, data: HeteroData) -> HeteroData:
        data = data.clone()
        num_items = data[ITEM].num_nodes
        gen = torch.Generator().manual_seed(self.seed)
        size = max(1, round(self.fraction * num_items))
        cold = torch.zeros(num_items, dtype=torch.bool)
        cold[torch.randperm(num_items, generator=gen)[:size]] = True
        store = data[EDGE]
        held = []
        for key, time_key in SPLITS:
            index = store[key]
            hit = cold[index[1]]
            held.append(index[:, hit])
            store[key] = index[:, ~hit]
            # Timestamps of the split, if any, follow their interactions.
            if store.get(time_key) is not None:
                store[time_key] = store[time_key][~hit]
        data[REV_EDGE].edge_index = store.edge_index.flip(0)
        store[COLD_INDEX] = torch.cat(held, dim=1)
        for field in FEEDBACK:
            values = data[ITEM].get(field)
            if isinstance(values, list):
                data[ITEM][field] = [[] if c else v
                                     for v, c in zip(values, cold.tolist())]
        data[ITEM][COLD] = cold
        return data

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(fraction={self.fraction}, '
                f'seed={self.seed})')


def _take(value: Any, keep: Tensor, num: int) -> Any:
    if isinstance(value, Tensor) and value.dim() > 0 and value.size(0) == num:
        return value[keep]
    if isinstance(value, list) and len(value) == num:
        return [value[i] for i in keep.tolist()]
    return value


class DropColdItems(BaseTransform):
    r"""Removes the items :class:`HoldOutItems` marked from the graph (the
    others are re-indexed in order) and keeps :obj:`data.cold_sem_emb`,
    :obj:`data.cold_test_index` and :obj:`data.cold_raw_id`."""
    def forward(self, data: HeteroData) -> HeteroData:
        cold = data[ITEM].get(COLD)
        if cold is None:
            raise ValueError("'DropColdItems' needs 'HoldOutItems' first "
                             "(no data['item'].cold)")
        num_items = data[ITEM].num_nodes
        warm = (~cold).nonzero().view(-1)
        cold_ids = cold.nonzero().view(-1)
        new_id = torch.full((num_items, ), -1, dtype=torch.long)
        new_id[warm] = torch.arange(warm.numel())
        cold_id = torch.full((num_items, ), -1, dtype=torch.long)
        cold_id[cold_ids] = torch.arange(cold_ids.numel())
        store = data[EDGE]
        index = {key: torch.stack([store[key][0], new_id[store[key][1]]])
                 for key in ('edge_index', VAL_INDEX, TEST_INDEX)}
        out = build_rec_data(data[USER].num_nodes, warm.numel(),
                             index['edge_index'], index[VAL_INDEX],
                             index[TEST_INDEX])
        for key, value in store.items():
            if key not in ('edge_index', VAL_INDEX, TEST_INDEX, COLD_INDEX):
                out[EDGE][key] = value
        for key, value in data[USER].items():
            if key != 'num_nodes':
                out[USER][key] = value
        for key, value in data[ITEM].items():
            if key not in ('num_nodes', COLD):
                out[ITEM][key] = _take(value, warm, num_items)
        held = store[COLD_INDEX]
        out.cold_test_index = torch.stack([held[0], cold_id[held[1]]])
        sem = data[ITEM].get(SEM_EMB)
        if sem is not None:
            out.cold_sem_emb = sem[cold_ids]
        raw: List[str] = data[ITEM].get(RAW_ID) or [
            str(i) for i in range(num_items)]
        out.cold_raw_id = [raw[i] for i in cold_ids.tolist()]
        return out

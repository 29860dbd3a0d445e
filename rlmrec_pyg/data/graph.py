r"""Builds and checks the one bipartite graph representation of
:mod:`rlmrec_pyg` (names in :mod:`rlmrec_pyg.typing`)."""
from typing import Optional

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from rlmrec_pyg.typing import (EDGE, ITEM, REV_EDGE, TEST_INDEX, USER,
                               VAL_INDEX)


def build_rec_data(num_users: int, num_items: int, train_index: Tensor,
                   val_index: Optional[Tensor] = None,
                   test_index: Optional[Tensor] = None) -> HeteroData:
    r"""Returns a :class:`~torch_geometric.data.HeteroData` user-item graph.

    Training interactions become :obj:`data['user', 'to', 'item'].edge_index`
    and their reverse :obj:`data['item', 'rev_to', 'user'].edge_index`;
    validation and test interactions are stored beside them as
    :obj:`val_edge_index` and :obj:`test_edge_index`.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        train_index (torch.Tensor): Training interactions :obj:`[2, E]`
            (row 0: user ids, row 1: item ids).
        val_index (torch.Tensor, optional): Validation interactions.
        test_index (torch.Tensor, optional): Test interactions.
    """
    data = HeteroData()
    data[USER].num_nodes = int(num_users)
    data[ITEM].num_nodes = int(num_items)
    data[EDGE].edge_index = train_index.long()
    data[REV_EDGE].edge_index = train_index.long().flip(0)
    empty = torch.empty(2, 0, dtype=torch.long)
    data[EDGE][VAL_INDEX] = (empty if val_index is None else val_index.long())
    data[EDGE][TEST_INDEX] = (empty
                              if test_index is None else test_index.long())
    validate_rec_data(data)
    return data


def _keys(index: Tensor, num_items: int) -> Tensor:
    return index[0] * num_items + index[1]


def validate_rec_data(data: HeteroData, name: str = 'data') -> None:
    r"""Checks the invariants of the graph representation and raises one
    :class:`ValueError` naming :obj:`name` and the broken invariant: ids in
    range, no duplicate interaction, disjoint splits, the reverse edges equal
    to the flipped training edges, and :obj:`sem_emb` rows equal to the node
    counts without NaN or infinity."""
    num_users, num_items = data[USER].num_nodes, data[ITEM].num_nodes
    splits = {'train': data[EDGE].edge_index}
    for split, key in (('val', VAL_INDEX), ('test', TEST_INDEX)):
        if key in data[EDGE]:
            splits[split] = data[EDGE][key]
    seen = []
    for split, index in splits.items():
        if index.dim() != 2 or index.size(0) != 2:
            raise ValueError(f"Expected the {split} interactions of '{name}' "
                             f"to have shape [2, E] (got "
                             f"{list(index.size())})")
        if index.numel() == 0:
            seen.append(index.new_empty(0))
            continue
        if int(index.min()) < 0 or int(index[0].max()) >= num_users \
                or int(index[1].max()) >= num_items:
            raise ValueError(
                f"The {split} interactions of '{name}' hold ids out of "
                f"range (expected users < {num_users} and items < "
                f"{num_items}, got max user {int(index[0].max())} and max "
                f"item {int(index[1].max())})")
        keys = _keys(index, num_items)
        if keys.unique().numel() != keys.numel():
            raise ValueError(f"The {split} interactions of '{name}' contain "
                             f"{keys.numel() - keys.unique().numel()} "
                             f"duplicates")
        seen.append(keys)
    all_keys = torch.cat(seen)
    num_shared = all_keys.numel() - all_keys.unique().numel()
    if num_shared > 0:
        raise ValueError(f"The train/val/test splits of '{name}' are not "
                         f"disjoint ({num_shared} interactions occur in more "
                         f"than one)")
    if REV_EDGE in data.edge_types and not torch.equal(
            data[REV_EDGE].edge_index, data[EDGE].edge_index.flip(0)):
        raise ValueError(f"The reverse edges of '{name}' are not the flipped "
                         f"training edges")
    for node_type, num in ((USER, num_users), (ITEM, num_items)):
        sem = getattr(data[node_type], 'sem_emb', None)
        if sem is None:
            continue
        if sem.dim() != 2 or sem.size(0) != num:
            raise ValueError(f"Expected 'sem_emb' of node type '{node_type}' "
                             f"in '{name}' to have {num} rows (got shape "
                             f"{list(sem.size())})")
        check_finite_rows(sem, f"'sem_emb' of node type '{node_type}' in "
                          f"'{name}'")


def check_finite_rows(x: Tensor, what: str, block: int = 1 << 16) -> None:
    r"""Raises a :class:`ValueError` naming :obj:`what` and the first row of
    :obj:`x` that holds a NaN or an infinity, if any. Rows are checked
    :obj:`block` at a time, so a large (or memory-mapped) :obj:`x` costs
    no full-size mask."""
    if x.dim() == 0:
        x = x.view(1, 1)
    x = x.reshape(x.size(0), -1)
    for start in range(0, max(x.size(0), 1), block):
        bad = ~torch.isfinite(x[start:start + block])
        if bool(bad.any()):
            rows = bad.any(dim=1)
            row = int(rows.nonzero()[0])
            value = x[start + row][bad[row]][0].item()
            num_rows = int(rows.sum()) + sum(
                int((~torch.isfinite(x[s:s + block])).any(dim=1).sum())
                for s in range(start + block, x.size(0), block))
            raise ValueError(
                f"{what} holds non-finite values: {num_rows} rows, the "
                f"first is row {start + row} (a {value} in it); non-finite "
                f"vectors make every loss and score meaningless, so they "
                f"are refused")


def check_semantic(data: HeteroData, name: str = 'data') -> None:
    r"""Raises a :class:`ValueError` naming :obj:`name`, the node type and
    the first bad row if any :obj:`sem_emb` of :obj:`data` holds a NaN or an
    infinity."""
    for node_type in data.node_types:
        sem = data[node_type].get('sem_emb')
        if isinstance(sem, Tensor) and sem.is_floating_point():
            check_finite_rows(sem, f"'sem_emb' of node type '{node_type}' "
                              f"in '{name}'")

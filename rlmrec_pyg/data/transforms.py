r"""Graph transforms of the paper's studies (`"Representation Learning with
Large Language Models for Recommendation"
<https://arxiv.org/abs/2310.15950>`_, Sec. 4.3-4.5), as PyG
:class:`~torch_geometric.transforms.BaseTransform` objects: noisy training
interactions (RQ3), shuffled semantic vectors (RQ2) and time windows (RQ4).
Each returns a shallow copy; the input graph is left unchanged, and they
compose with :class:`torch_geometric.transforms.Compose`."""
import logging

import torch
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from rlmrec_pyg.typing import (EDGE, ITEM, REV_EDGE, SEM_EMB, TEST_INDEX,
                               TEST_TIME, TIME, USER, VAL_INDEX, VAL_TIME)

log = logging.getLogger(__name__)

#: Split index attribute and its timestamp attribute on ``data[EDGE]``.
SPLITS = (('edge_index', TIME), (VAL_INDEX, VAL_TIME), (TEST_INDEX,
                                                        TEST_TIME))


class AddNoiseInteractions(BaseTransform):
    r"""Adds :math:`\lfloor \text{ratio} \cdot |\mathcal{E}_{train}|
    \rfloor` random user-item pairs to the training interactions (the
    robustness study, RQ3, Fig. 5); none of them exists in any split, and
    none is added twice. Validation and test are unchanged, and so are the
    node texts (the paper's noise reaches the graph only).

    Args:
        ratio (float): Noise ratio, *e.g.*, :obj:`0.05` to :obj:`0.25`.
        seed (int, optional): Seed of the draw. (default: :obj:`0`)
    """
    def __init__(self, ratio: float, seed: int = 0) -> None:
        if ratio < 0:
            raise ValueError(f"'ratio' must be non-negative (got {ratio})")
        self.ratio = ratio
        self.seed = seed

    def forward(self, data: HeteroData) -> HeteroData:
        num_users, num_items = data[USER].num_nodes, data[ITEM].num_nodes
        train = data[EDGE].edge_index
        num_new = int(self.ratio * train.size(1))
        taken = torch.cat([
            train, data[EDGE].get(VAL_INDEX, train[:, :0]),
            data[EDGE].get(TEST_INDEX, train[:, :0])
        ], dim=1)
        taken_keys = taken[0] * num_items + taken[1]
        free = num_users * num_items - taken_keys.unique().numel()
        if num_new > free:
            raise ValueError(f"Cannot add {num_new} noise interactions: "
                             f"only {free} user-item pairs are free")
        gen = torch.Generator().manual_seed(self.seed)
        new_keys = torch.empty(0, dtype=torch.long)
        while new_keys.numel() < num_new:
            draw = torch.randint(num_users * num_items,
                                 (2 * (num_new - new_keys.numel()) + 16, ),
                                 generator=gen)
            draw = draw[~torch.isin(draw, taken_keys)]
            draw = draw[~torch.isin(draw, new_keys)]
            # Keep first occurrences in draw order (no sort: stay uniform).
            uniq, inv = torch.unique(draw, return_inverse=True)
            first = torch.full((uniq.numel(), ), draw.numel(),
                               dtype=torch.long)
            first.scatter_reduce_(0, inv, torch.arange(draw.numel()), 'amin')
            draw = draw[first.sort()[0]]
            new_keys = torch.cat([new_keys, draw])[:num_new]
        noise = torch.stack([new_keys // num_items, new_keys % num_items])
        data[EDGE].edge_index = torch.cat([train, noise], dim=1)
        data[REV_EDGE].edge_index = data[EDGE].edge_index.flip(0)
        log.info(f"Added {num_new} noise interactions (ratio {self.ratio})")
        return data

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(ratio={self.ratio}, '
                f'seed={self.seed})')


class ShuffleSemantic(BaseTransform):
    r"""Permutes the :obj:`sem_emb` rows randomly within each node type (the
    shuffle ablation, RQ2, Sec. 4.3): the same vectors, no longer matched
    to their users and items.

    Args:
        seed (int, optional): Seed of the permutations. (default: :obj:`0`)
    """
    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def forward(self, data: HeteroData) -> HeteroData:
        gen = torch.Generator().manual_seed(self.seed)
        for node_type in (USER, ITEM):
            if SEM_EMB not in data[node_type]:
                raise ValueError(f"'ShuffleSemantic' needs 'sem_emb' on "
                                 f"node type '{node_type}'")
            sem = data[node_type][SEM_EMB]
            perm = torch.randperm(sem.size(0), generator=gen)
            data[node_type][SEM_EMB] = sem[perm]
        log.info('Shuffled the semantic vectors (ablation)')
        return data

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(seed={self.seed})'


class TimeWindow(BaseTransform):
    r"""Keeps, in every split, the interactions whose timestamp lies between
    the :obj:`start` and :obj:`end` quantiles of all timestamps (RQ4,
    Sec. 4.5: pre-train on an earlier window, fine-tune on a later one).
    Node ids, node counts and node text are unchanged, so embeddings trained
    on one window initialise a model on another; each interaction keeps its
    split, so held-out interactions stay held out (and out of the text) in
    every window.

    Args:
        start (float): Lower quantile in :math:`[0, 1)` (inclusive).
        end (float): Upper quantile in :math:`(0, 1]` (exclusive, except
            :obj:`1.0`).
    """
    def __init__(self, start: float, end: float) -> None:
        if not 0.0 <= start < end <= 1.0:
            raise ValueError(f"'TimeWindow' must satisfy 0 <= start < end "
                             f"<= 1 (got start={start}, end={end})")
        self.start = start
        self.end = end

    def forward(self, data: HeteroData) -> HeteroData:
        store = data[EDGE]
        missing = [key for _, key in SPLITS if key not in store]
        if missing:
            raise ValueError(f"'TimeWindow' needs interaction timestamps "
                             f"{missing} on the dataset (MovieLens and CSVs "
                             f"with a 'time_col' have them)")
        times = torch.cat([store[key] for _, key in SPLITS]).double()
        lo, hi = torch.quantile(
            times, torch.tensor([self.start, self.end], dtype=torch.float64))
        for index_key, time_key in SPLITS:
            t = store[time_key].double()
            keep = (t >= lo) & ((t < hi) if self.end < 1.0 else (t <= hi))
            store[index_key] = store[index_key][:, keep]
            store[time_key] = store[time_key][keep]
        data[REV_EDGE].edge_index = store.edge_index.flip(0)
        log.info(f"Time window [{self.start}, {self.end}): "
                 f"{store.edge_index.size(1)} train / "
                 f"{store[VAL_INDEX].size(1)} val / "
                 f"{store[TEST_INDEX].size(1)} test interactions")
        return data

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(start={self.start}, '
                f'end={self.end})')

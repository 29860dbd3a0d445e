r"""The paper's datasets built from the raw review dumps (or from any ratings
table) with the RLMRec recipe."""
import hashlib
import json
import logging
import os
import os.path as osp
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch_geometric.data import HeteroData

from rlmrec_pyg.data.dataset import SafeInMemoryDataset
from rlmrec_pyg.data.graph import build_rec_data, validate_rec_data
from rlmrec_pyg.data.recipe.core import NO_TIME, Recipe, apply_recipe
from rlmrec_pyg.data.recipe.ingest import read_interactions
from rlmrec_pyg.data.recipe.sources import Source, resolve_source
from rlmrec_pyg.data.recipe.text import item_metadata, training_reviews
from rlmrec_pyg.io import json_save
from rlmrec_pyg.typing import (EDGE, ITEM, RAW_ID, TEST_TIME, TIME, USER,
                               VAL_TIME)

log = logging.getLogger(__name__)


def build_from_raw(interactions: str, source: Any = 'table',
                   item_meta: Optional[str] = None,
                   recipe: Recipe = Recipe(), reviews_per_node: int = 6,
                   **fields: Any) -> Tuple[HeteroData, Dict[str, Any]]:
    r"""Builds the graph of :obj:`interactions` with :obj:`recipe` (see
    :func:`~rlmrec_pyg.data.recipe.core.apply_recipe`) and returns it with
    the counts of every stage.

    Args:
        interactions (str): The interactions file (CSV, TSV, Parquet or
            JSON lines, optionally ``.gz`` / ``.bz2``).
        source (str or Source, optional): Its field names: a key of
            :obj:`~rlmrec_pyg.data.recipe.sources.SOURCES`.
            (default: :obj:`"table"`)
        item_meta (str, optional): The item metadata file (titles,
            descriptions, categories). (default: :obj:`None`)
        recipe (Recipe, optional): The recipe's parameters.
        reviews_per_node (int, optional): Reviews kept per user and per item
            (their earliest training reviews). (default: :obj:`6`)
        **fields: Field names replacing the source's (:obj:`user`,
            :obj:`item`, :obj:`rating`, :obj:`time`, :obj:`time_format`,
            :obj:`review`, ...; :obj:`""` for a field the file lacks).
    """
    src = resolve_source(source, **fields)
    raw = read_interactions(interactions, src)
    built = apply_recipe(raw.user, raw.item, raw.rating, raw.time, recipe)
    stats = dict(built.stats)
    if src.time is not None:
        stats['records with an unreadable time'] = raw.unparsed_times
    index = torch.stack([torch.from_numpy(built.user),
                         torch.from_numpy(built.item)])
    split = torch.from_numpy(built.split)
    data = build_rec_data(built.user_code.size, built.item_code.size,
                          index[:, split == 0], index[:, split == 1],
                          index[:, split == 2])
    data[USER][RAW_ID] = [raw.user_ids[c] for c in built.user_code.tolist()]
    data[ITEM][RAW_ID] = [raw.item_ids[c] for c in built.item_code.tolist()]
    missing = int((built.time == NO_TIME).sum())
    if src.time is not None and missing:
        # A time window (RQ4) would rank missing times as the latest.
        log.warning(f"{missing} of {built.time.size} kept interactions have "
                    f"no readable time: the timestamps are not stored")
    elif src.time is not None:
        time = torch.from_numpy(built.time)
        for s, key in enumerate((TIME, VAL_TIME, TEST_TIME)):
            data[EDGE][key] = time[split == s]
    if item_meta is not None:
        meta = item_metadata(item_meta, src, data[ITEM][RAW_ID])
        for key, values in meta.items():
            data[ITEM][key] = values
        stats['items with metadata'] = sum(
            1 for t, d, g in zip(*meta.values()) if t or d or g)
    if src.review is not None and reviews_per_node > 0:
        reviews = training_reviews(built, interactions, src.review,
                                   reviews_per_node)
        data[USER].reviews, data[ITEM].reviews = reviews['user'], \
            reviews['item']
    validate_rec_data(data, 'build_from_raw')
    return data, stats


def _fingerprint(path: Optional[str]) -> Optional[List[Any]]:
    if path is None:
        return None
    st = os.stat(path)
    return [osp.abspath(path), st.st_size, st.st_mtime_ns]


class RawReviews(SafeInMemoryDataset):
    r"""A dataset built from a raw review dump (Amazon Reviews 2014 / 2018 /
    2023, Yelp, Steam) or from any ratings table (CSV, Parquet) with the
    recipe of the paper (Ren et al., WWW'24, Sec. 4.1.1): ratings
    :math:`\geq 3`, a uniform sample of the users, an iterative 10-core and
    a random 3:1:1 split in which every user and item has a training
    interaction (:func:`~rlmrec_pyg.data.recipe.core.apply_recipe`).

    The interactions file is read in one streaming pass that keeps only
    ids, ratings and timestamps; the reviews of the kept training
    interactions are fetched in a second pass. Items get :obj:`title`,
    :obj:`description` and :obj:`genres` (categories) from
    :obj:`item_meta`, users and items :obj:`reviews` from training
    interactions only, and both their :obj:`raw_id`. The counts of every
    stage are in :attr:`stats` (and :obj:`processed/stats_*.json`); the
    paper's Table 5 counts users, items and **training** interactions.

    .. code-block:: python

        dataset = RawReviews('data/amazon_book', 'reviews_Books.json.gz',
                             source='amazon2014',
                             item_meta='meta_Books.json.gz',
                             user_fraction=0.2, k_core=10)

    Args:
        root (str): Root directory of the processed files.
        interactions (str): The interactions file.
        source (str, optional): Field names of a raw format: one of
            :obj:`"amazon2014"`, :obj:`"amazon2018"`, :obj:`"amazon2023"`,
            :obj:`"yelp"`, :obj:`"steam"`, :obj:`"table"` (columns
            ``user``, ``item``, ``rating``, ``timestamp``).
            (default: :obj:`"table"`)
        item_meta (str, optional): The item metadata file.
        min_rating (float, optional): Lowest rating kept (:obj:`None`: all).
            (default: :obj:`3.0`)
        user_fraction (float, optional): Fraction of users sampled.
            (default: :obj:`1.0`)
        k_core (int, optional): Iterative k-core. (default: :obj:`10`)
        ratios (tuple, optional): Train/val/test weights.
            (default: :obj:`(3, 1, 1)`)
        seed (int, optional): Seed of the sample and the split.
            (default: :obj:`0`)
        reviews_per_node (int, optional): Training reviews kept per node.
            (default: :obj:`6`)
        fields (dict, optional): Field names replacing the source's, e.g.
            :obj:`{"user": "customer", "rating": ""}` (:obj:`""`: the file
            has no such field). (default: :obj:`None`)
        transform (callable, optional): Applied on every access.
        pre_transform (callable, optional): Applied before saving.
        force_reload (bool, optional): Rebuild even if the processed file of
            these inputs and parameters exists. (default: :obj:`False`)
    """
    def __init__(self, root: str, interactions: str, source: str = 'table',
                 item_meta: Optional[str] = None,
                 min_rating: Optional[float] = 3.0,
                 user_fraction: float = 1.0, k_core: int = 10,
                 ratios: Sequence[float] = (3, 1, 1), seed: int = 0,
                 reviews_per_node: int = 6,
                 fields: Optional[Dict[str, Any]] = None,
                 transform: Optional[Callable] = None,
                 pre_transform: Optional[Callable] = None,
                 force_reload: bool = False) -> None:
        self.interactions = os.fspath(interactions)
        self.item_meta = None if item_meta is None else os.fspath(item_meta)
        self.fields = dict(fields or {})
        self.source: Source = resolve_source(source, **self.fields)
        self.source_name = source
        self.recipe = Recipe(min_rating, user_fraction, k_core,
                             tuple(ratios), seed)
        if (not isinstance(reviews_per_node, int)
                or isinstance(reviews_per_node, bool)
                or reviews_per_node < 0):
            raise ValueError(f"'reviews_per_node' must be an integer >= 0 "
                             f"(got {reviews_per_node!r})")
        self.reviews_per_node = reviews_per_node
        for name, path in (('interactions', self.interactions),
                           ('item_meta', self.item_meta)):
            if path is not None and not osp.isfile(path):
                raise FileNotFoundError(f"'{name}': no file '{path}'")
        key = json.dumps([source, self.fields, _fingerprint(self.interactions),
                          _fingerprint(self.item_meta), repr(self.recipe),
                          reviews_per_node], sort_keys=True, default=str)
        self._key = hashlib.sha256(key.encode()).hexdigest()[:16]
        super().__init__(root, transform, pre_transform,
                         force_reload=force_reload)
        self.load(self.processed_paths[0], data_cls=HeteroData)
        with open(self.processed_paths[1], encoding='utf-8') as f:
            self.stats: Dict[str, Any] = json.load(f)

    @property
    def raw_file_names(self) -> List[str]:
        return []

    @property
    def processed_file_names(self) -> List[str]:
        return [f'data_{self._key}.pt', f'stats_{self._key}.json']

    def download(self) -> None:
        pass

    def process(self) -> None:
        data, stats = build_from_raw(
            self.interactions, self.source, self.item_meta, self.recipe,
            self.reviews_per_node)
        for key, value in stats.items():
            log.info('%-38s %s', key, value)
        if self.pre_transform is not None:
            data = self.pre_transform(data)
        json_save(stats, self.processed_paths[1])
        self.save([data], self.processed_paths[0])

    def __repr__(self) -> str:
        return (f'{type(self).__name__}({self.source_name!r}, '
                f'users={self._data[USER].num_nodes}, '
                f'items={self._data[ITEM].num_nodes})')

r"""Text for the profiler from the same dumps: item titles, descriptions and
categories from the metadata file, and a few reviews per user and per item
from **training** interactions only (validation and test reviews never
reach a prompt)."""
from typing import Any, Dict, Iterable, List, Sequence

import numpy as np

from rlmrec_pyg.data.recipe.core import Built
from rlmrec_pyg.data.recipe.readers import (iter_columns, iter_records,
                                            require_pyarrow)
from rlmrec_pyg.data.recipe.sources import Source


def first_per_node(node: np.ndarray, time: np.ndarray, row: np.ndarray,
                   candidates: np.ndarray, num: int) -> np.ndarray:
    r"""Returns the positions, among :obj:`candidates`, of every node's
    :obj:`num` earliest interactions (ties: the first in the file)."""
    cand = np.flatnonzero(candidates)
    order = cand[np.lexsort((row[cand], time[cand], node[cand]))]
    nodes = node[order]
    start = np.ones(nodes.size, dtype=bool)
    start[1:] = nodes[1:] != nodes[:-1]
    first = np.maximum.accumulate(np.where(start, np.arange(nodes.size), 0))
    return order[np.arange(nodes.size) - first < num]


def read_field(path: str, field: str, rows: np.ndarray) -> Dict[int, str]:
    r"""Returns the non-empty values of :obj:`field` of the records
    :obj:`rows` (sorted record positions) of :obj:`path`, by position."""
    pa = require_pyarrow()
    out: Dict[int, str] = {}
    offset = 0
    for table in iter_columns(path, {field: pa.string()},
                              'interactions file'):
        size = table.num_rows
        lo, hi = np.searchsorted(rows, [offset, offset + size])
        if hi > lo:
            wanted = rows[lo:hi]
            values = table[field].take(pa.array(wanted - offset)).to_pylist()
            for r, v in zip(wanted.tolist(), values):
                if v is not None and v.strip():
                    out[r] = v.strip()
        offset += size
    return out


def training_reviews(built: Built, path: str, field: str,
                     num: int) -> Dict[str, List[List[str]]]:
    r"""Returns the :obj:`reviews` of every user and item: the non-empty
    texts among their :obj:`num` earliest training interactions."""
    train = built.split == 0
    chosen = {'user': first_per_node(built.user, built.time, built.row,
                                     train, num),
              'item': first_per_node(built.item, built.time, built.row,
                                     train, num)}
    rows = np.unique(built.row[np.concatenate(list(chosen.values()))])
    texts = read_field(path, field, rows)
    out: Dict[str, List[List[str]]] = {}
    for node_type, pos in chosen.items():
        node = built.user if node_type == 'user' else built.item
        lists: List[List[str]] = [[] for _ in range(int(node.max()) + 1)]
        # ``pos`` is ordered by node, then time, then record.
        for n, r in zip(node[pos].tolist(), built.row[pos].tolist()):
            if r in texts:
                lists[n].append(texts[r])
        out[node_type] = lists
    return out


def _flatten(value: Any) -> Iterable[str]:
    if isinstance(value, (list, tuple)):
        for v in value:
            yield from _flatten(v)
    elif value is not None and str(value).strip():
        yield str(value).strip()


def categories_of(values: Sequence[Any]) -> List[str]:
    r"""Flattens category fields (strings, comma-separated strings as in
    Yelp, lists, lists of lists as in Amazon 2014) into unique names, in
    order of appearance."""
    out: Dict[str, None] = {}
    for value in values:
        if isinstance(value, str):
            value = value.split(',')
        for name in _flatten(value):
            out.setdefault(name, None)
    return list(out)


def item_metadata(path: str, source: Source,
                  item_ids: Sequence[str]) -> Dict[str, List[Any]]:
    r"""Returns :obj:`title`, :obj:`description` (strings) and
    :obj:`genres` (lists of category names) for every item of
    :obj:`item_ids` from the metadata file :obj:`path` (first record of an
    id wins; items without a record get empty values)."""
    if source.meta_item is None:
        raise ValueError("The source names no item id field of the "
                         "metadata ('meta_item')")
    index = {raw: k for k, raw in enumerate(item_ids)}
    fields = [f for f in (source.meta_item, source.title, source.description,
                          *source.categories) if f is not None]
    title = [''] * len(index)
    description = [''] * len(index)
    genres: List[List[str]] = [[] for _ in index]
    seen = np.zeros(len(index), dtype=bool)
    records = 0
    for record in iter_records(path, fields):
        records += 1
        raw = record.get(source.meta_item)
        k = index.get(str(raw).strip()) if raw is not None else None
        if k is None or seen[k]:
            continue
        seen[k] = True
        if source.title is not None:
            title[k] = ' '.join(_flatten(record.get(source.title)))
        if source.description is not None:
            description[k] = ' '.join(_flatten(
                record.get(source.description)))
        genres[k] = categories_of([record.get(c) for c in source.categories])
    if records and not seen.any():
        raise ValueError(f"No record of the metadata file '{path}' names an "
                         f"item of the interactions in its field "
                         f"'{source.meta_item}'")
    return {'title': title, 'description': description, 'genres': genres}

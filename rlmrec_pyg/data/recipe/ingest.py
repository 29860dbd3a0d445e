r"""One streaming pass over a raw interactions file: ids as integer codes
(in raw-id order), ratings and timestamps as NumPy arrays. Only these
columns are kept, so a dump larger than memory is read in the memory of
its ids."""
from dataclasses import dataclass
from typing import Any, List, Optional

import numpy as np

from rlmrec_pyg.data.recipe.core import NO_TIME
from rlmrec_pyg.data.recipe.readers import iter_columns, require_pyarrow
from rlmrec_pyg.data.recipe.sources import UNIX_MS, UNIX_S, Source


@dataclass
class RawInteractions:
    r"""Every record of an interactions file: :obj:`user` / :obj:`item`
    codes into the sorted raw ids :obj:`user_ids` / :obj:`item_ids`
    (:obj:`-1` where the id is missing), :obj:`rating` (:obj:`NaN` where
    missing, :obj:`None` without a rating field) and :obj:`time` in
    seconds (:obj:`NO_TIME` where missing, :obj:`None` without a time
    field)."""
    user: np.ndarray
    item: np.ndarray
    rating: Optional[np.ndarray]
    time: Optional[np.ndarray]
    user_ids: List[str]
    item_ids: List[str]
    unparsed_times: int = 0


def _time_type(source: Source) -> Any:
    pa = require_pyarrow()
    return pa.int64() if source.time_format in (UNIX_S, UNIX_MS) \
        else pa.string()


def _seconds(column: Any, source: Source) -> np.ndarray:
    pa = require_pyarrow()
    import pyarrow.compute as pc
    if source.time_format == UNIX_MS:
        column = pc.divide(column, 1000)
    elif source.time_format != UNIX_S:
        column = pc.strptime(column, format=source.time_format, unit='s',
                             error_is_null=True).cast(pa.int64())
    return column.fill_null(NO_TIME).to_numpy()


def _encode(chunks: List[Any]) -> Any:
    pa = require_pyarrow()
    import pyarrow.compute as pc
    column = pa.chunked_array(chunks, type=pa.string())
    ids = pc.unique(column).drop_null()
    ids = ids.take(pc.sort_indices(ids))
    codes = pc.index_in(column, value_set=ids).fill_null(-1)
    return codes.to_numpy().astype(np.int64), ids.to_pylist()


def read_interactions(path: str, source: Source,
                      batch_rows: int = 1 << 16) -> RawInteractions:
    r"""Reads the :obj:`source.user`, :obj:`source.item`,
    :obj:`source.rating` and :obj:`source.time` fields of every record of
    :obj:`path` (see :func:`~rlmrec_pyg.data.recipe.readers.iter_columns`);
    empty ids count as missing."""
    pa = require_pyarrow()
    import pyarrow.compute as pc
    columns = {source.user: pa.string(), source.item: pa.string()}
    if source.rating is not None:
        columns[source.rating] = pa.float64()
    if source.time is not None:
        columns[source.time] = _time_type(source)
    users: List[Any] = []
    items: List[Any] = []
    ratings: List[np.ndarray] = []
    times: List[np.ndarray] = []
    unparsed = 0
    for table in iter_columns(path, columns, 'interactions file',
                              batch_rows):
        for out, name in ((users, source.user), (items, source.item)):
            ids = pc.utf8_trim_whitespace(table[name])
            out.extend(pc.if_else(pc.equal(ids, ''), None, ids).chunks)
        if source.rating is not None:
            ratings.append(table[source.rating].to_numpy())
        if source.time is not None:
            raw = table[source.time]
            seconds = _seconds(raw, source)
            unparsed += int(((seconds == NO_TIME)
                             & ~raw.is_null().to_numpy()).sum())
            times.append(seconds)
    if not users:
        raise ValueError(f"The interactions file '{path}' has no records")
    user, user_ids = _encode(users)
    del users
    item, item_ids = _encode(items)
    del items
    if (user < 0).all() or (item < 0).all():
        missing = source.user if (user < 0).all() else source.item
        raise ValueError(f"The interactions file '{path}' has no value in "
                         f"the field '{missing}' (check the source's field "
                         f"names)")
    return RawInteractions(
        user, item,
        np.concatenate(ratings).astype(np.float64) if ratings else None,
        np.concatenate(times).astype(np.int64) if times else None,
        user_ids, item_ids, unparsed)

r"""Where the fields of the raw review dumps live: one :class:`Source` per
format users download (Amazon Reviews 2014 / 2018 / 2023, the Yelp Open
Dataset, Steam), and :obj:`"table"` for a CSV or Parquet file of one's own.
"""
from dataclasses import dataclass, fields, replace
from typing import Any, Dict, Optional, Tuple

#: How timestamps are written: seconds or milliseconds since the epoch, or
#: any other string is a :func:`time.strptime` format of a date string.
UNIX_S, UNIX_MS = 'unix_s', 'unix_ms'


@dataclass(frozen=True)
class Source:
    r"""The field names of one raw format.

    Interactions (one record per review / rating): :obj:`user`,
    :obj:`item`, optional :obj:`rating`, :obj:`time` (written as
    :obj:`time_format`) and :obj:`review` (the review text). Item metadata
    (one record per item, keyed by :obj:`meta_item`): :obj:`title`,
    :obj:`description` and :obj:`categories` (strings, lists of strings or
    lists of lists of strings, as the dumps have them).
    """
    user: str
    item: str
    rating: Optional[str] = None
    time: Optional[str] = None
    time_format: str = UNIX_S
    review: Optional[str] = None
    meta_item: Optional[str] = None
    title: Optional[str] = None
    description: Optional[str] = None
    categories: Tuple[str, ...] = ()

    def with_overrides(self, **overrides: Any) -> 'Source':
        r"""Returns a copy with the non-:obj:`None` :obj:`overrides`; an
        empty string removes an optional field (the file lacks it)."""
        names = {f.name for f in fields(self)}
        given: Dict[str, Any] = {}
        for key, value in overrides.items():
            if key not in names:
                raise ValueError(f"Unknown field of a source '{key}' "
                                 f"(choose from {sorted(names)})")
            if value is None:
                continue
            if key == 'categories':
                value = (() if value == '' else (value, ) if isinstance(
                    value, str) else tuple(value))
            elif value == '':
                if key in ('user', 'item', 'time_format'):
                    raise ValueError(f"The source field '{key}' cannot be "
                                     f"removed (got '')")
                value = None
            elif not isinstance(value, str):
                raise ValueError(f"The source field '{key}' must be a field "
                                 f"name (got {value!r})")
            given[key] = value
        return replace(self, **given)


#: The raw formats, by name. The field names are those of the public dumps:
#: Amazon Reviews 2014 (``reviews_<Category>.json.gz``, strict JSON lines;
#: ``meta_<Category>.json.gz``, Python-literal lines) and 2018 (the same
#: review fields; metadata in JSON with ``category`` lists), Amazon Reviews
#: 2023 (``<Category>.jsonl`` keyed by ``parent_asin``, ratings in
#: ``rating``, milliseconds in ``timestamp``), the Yelp Open Dataset
#: (``yelp_academic_dataset_review.json`` / ``..._business.json``) and
#: Steam (``steam_reviews.json.gz`` / ``steam_games.json.gz``,
#: Python-literal lines, no ratings). :obj:`"table"` is a CSV or Parquet
#: file with columns ``user``, ``item``, ``rating`` and ``timestamp``
#: (rename them with the dataset's ``*_col`` arguments).
SOURCES: Dict[str, Source] = {
    'amazon2014': Source(
        user='reviewerID', item='asin', rating='overall',
        time='unixReviewTime', review='reviewText', meta_item='asin',
        title='title', description='description',
        categories=('categories', )),
    'amazon2018': Source(
        user='reviewerID', item='asin', rating='overall',
        time='unixReviewTime', review='reviewText', meta_item='asin',
        title='title', description='description',
        categories=('category', )),
    'amazon2023': Source(
        user='user_id', item='parent_asin', rating='rating',
        time='timestamp', time_format=UNIX_MS, review='text',
        meta_item='parent_asin', title='title', description='description',
        categories=('categories', )),
    'yelp': Source(
        user='user_id', item='business_id', rating='stars', time='date',
        time_format='%Y-%m-%d %H:%M:%S', review='text',
        meta_item='business_id', title='name', categories=('categories', )),
    'steam': Source(
        user='username', item='product_id', time='date',
        time_format='%Y-%m-%d', review='text', meta_item='id',
        title='app_name', categories=('genres', 'tags')),
    'table': Source(user='user', item='item', rating='rating',
                    time='timestamp', meta_item='item', title='title',
                    description='description', categories=('categories', )),
}


def resolve_source(source: Any, **overrides: Any) -> Source:
    r"""Returns the :class:`Source` named :obj:`source` (a key of
    :obj:`SOURCES`) or :obj:`source` itself, with :obj:`overrides`."""
    if isinstance(source, Source):
        base = source
    elif isinstance(source, str) and source in SOURCES:
        base = SOURCES[source]
    else:
        raise ValueError(f"'source' must be one of "
                         f"{', '.join(map(repr, SOURCES))} or a Source "
                         f"(got {source!r})")
    return base.with_overrides(**overrides)

r"""A user's own interactions (and optional text) as a bipartite graph."""
import math
import numbers
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from torch_geometric.data import HeteroData

from rlmrec_pyg.data.dataset import SafeInMemoryDataset
from rlmrec_pyg.data.graph import validate_rec_data
from rlmrec_pyg.data.interactions import check_ratios, interactions_to_data
from rlmrec_pyg.data.table import (ID_NORMALIZATIONS, Frame, Table,
                                   attach_columns, need_column, parse_ids,
                                   parse_ratings, parse_times, read_table,
                                   row_of_ids, table_header, table_source,
                                   warn_integer_twins)
from rlmrec_pyg.typing import ITEM, USER


def _check_int(value: Any, name: str, low: Optional[int] = None) -> int:
    if (not isinstance(value, numbers.Integral) or isinstance(value, bool)
            or (low is not None and value < low)):
        at_least = f' >= {low}' if low is not None else ''
        raise ValueError(f"'{name}' must be an integer{at_least} (got "
                         f"{value!r})")
    return int(value)


def _check_min_rating(min_rating: Any,
                      rating_col: Optional[str]) -> Optional[float]:
    if min_rating is None:
        return None
    if (not isinstance(min_rating, numbers.Real)
            or isinstance(min_rating, bool) or not math.isfinite(min_rating)):
        raise ValueError(f"'min_rating' must be a finite number or None "
                         f"(got {min_rating!r})")
    if rating_col is None:
        raise ValueError(f"'min_rating' ({min_rating!r}) needs "
                         f"'rating_col', the column of the ratings")
    return float(min_rating)


def _check_columns(user_col: Any, item_col: Any, rating_col: Any,
                   time_col: Any) -> None:
    for name, value, optional in (('user_col', user_col, False),
                                  ('item_col', item_col, False),
                                  ('rating_col', rating_col, True),
                                  ('time_col', time_col, True)):
        if not ((isinstance(value, str) and value)
                or (optional and value is None)):
            kind = 'a column name or None' if optional else 'a column name'
            raise ValueError(f"'{name}' must be {kind} (got {value!r})")
    if user_col == item_col:
        raise ValueError(f"'user_col' and 'item_col' must name two columns "
                         f"(both are {user_col!r})")


class InteractionCSV(SafeInMemoryDataset):
    r"""Your own interactions as a graph in the :mod:`rlmrec_pyg.data`
    representation.

    Reads a table of interactions (a CSV path or a :class:`pandas.DataFrame`)
    with a user id, an item id and optionally a rating and a timestamp. Ids
    may be arbitrary strings: they are mapped to contiguous indices and the
    (normalised) originals are kept as :obj:`data[node_type].raw_id`. The
    filtering and split options are those of
    :class:`~rlmrec_pyg.data.MovieLensText`. Optional text tables (one row
    per user or item, keyed by the same id column) add each of their columns
    as a per-node list of strings (empty for nodes without a row).

    CSV files are read as UTF-8, with or without the byte-order mark that
    spreadsheet programs write; blank lines are skipped. Every problem in a
    table is one :class:`ValueError` that names the file (or the DataFrame),
    the row as a spreadsheet shows it (the header is row 1, the first data
    row is row 2) and the column: a row with more or fewer cells than the
    header, an empty id, an empty, non-numeric or non-finite rating, a
    negative rating while :obj:`min_rating` is :obj:`None` (it would count
    as a positive interaction), a timestamp that is not an integer, an id
    twice in a text table. Empty DataFrame cells (:obj:`NaN`, :obj:`None`)
    are empty cells. The arguments and the column names are checked before
    anything is written under :obj:`root`.

    Ids are normalised by :obj:`id_normalization`, identically in the
    interactions and in the id column of the text tables (so that their
    rows still match):

    * :obj:`"strip"` (default): surrounding whitespace is removed, so
      :obj:`" u1"` and :obj:`"u1"` are one user; otherwise ids are kept as
      written, so :obj:`"007"` and :obj:`"7"` are two (a warning names
      such a pair).
    * :obj:`"none"`: ids are used exactly as written.
    * :obj:`"numeric"`: ids are integers (surrounding whitespace and
      leading zeros ignored, so :obj:`"007"` and :obj:`"7"` are one user
      with :obj:`raw_id` :obj:`"7"`); an id that is not an integer is an
      error.

    An id that is empty (after normalisation) is an error.

    .. code-block:: python

        dataset = InteractionCSV('data/mine', 'ratings.csv',
                                 user_col='user', item_col='item',
                                 item_text='items.csv')

    Args:
        root (str): Root directory for the processed file.
        interactions (str or pandas.DataFrame): The interactions.
        user_col (str, optional): User id column. (default: :obj:`"user"`)
        item_col (str, optional): Item id column. (default: :obj:`"item"`)
        rating_col (str, optional): Rating column (finite numbers).
            (default: :obj:`None`)
        time_col (str, optional): Timestamp column (integers).
            (default: :obj:`None`)
        min_rating (float, optional): Lowest rating kept; needs
            :obj:`rating_col`. (default: :obj:`None`)
        k_core (int, optional): Iterative k-core. (default: :obj:`0`)
        ratios (tuple, optional): Train/val/test weights.
            (default: :obj:`(3, 1, 1)`)
        seed (int, optional): Seed of the split. (default: :obj:`0`)
        item_text (str or pandas.DataFrame, optional): Item text table keyed
            by :obj:`item_col`. (default: :obj:`None`)
        user_text (str or pandas.DataFrame, optional): User text table keyed
            by :obj:`user_col`. (default: :obj:`None`)
        id_normalization (str, optional): How ids are normalised:
            :obj:`"strip"` (surrounding whitespace removed), :obj:`"none"`
            (as written) or :obj:`"numeric"` (parsed as integers).
            (default: :obj:`"strip"`)
        transform (callable, optional): Applied on every access.
        pre_transform (callable, optional): Applied before saving.
        force_reload (bool, optional): Re-process. (default: :obj:`True`,
            as the input may change between runs)
    """
    def __init__(self, root: str, interactions: Table, user_col: str = 'user',
                 item_col: str = 'item', rating_col: Optional[str] = None,
                 time_col: Optional[str] = None,
                 min_rating: Optional[float] = None, k_core: int = 0,
                 ratios: Sequence[float] = (3, 1, 1), seed: int = 0,
                 item_text: Optional[Table] = None,
                 user_text: Optional[Table] = None,
                 transform: Optional[Callable] = None,
                 pre_transform: Optional[Callable] = None,
                 force_reload: bool = True,
                 id_normalization: str = 'strip') -> None:
        if (not isinstance(id_normalization, str)
                or id_normalization not in ID_NORMALIZATIONS):
            raise ValueError(f"'id_normalization' must be one of "
                             f"{', '.join(map(repr, ID_NORMALIZATIONS))} "
                             f"(got {id_normalization!r})")
        _check_columns(user_col, item_col, rating_col, time_col)
        self.id_normalization = id_normalization
        self.user_col, self.item_col = user_col, item_col
        self.rating_col, self.time_col = rating_col, time_col
        self.min_rating = _check_min_rating(min_rating, rating_col)
        self.k_core = _check_int(k_core, 'k_core', low=0)
        self.ratios = check_ratios(ratios)
        self.seed = _check_int(seed, 'seed')
        self.interactions = interactions
        self.item_text, self.user_text = item_text, user_text
        self._check_tables()
        super().__init__(root, transform, pre_transform,
                         force_reload=force_reload)
        self.load(self.processed_paths[0], data_cls=HeteroData)

    def _text_tables(self) -> List[Tuple[str, Table, str, str]]:
        return [(node_type, table, col, name) for node_type, table, col, name
                in ((ITEM, self.item_text, self.item_col, 'item_text'),
                    (USER, self.user_text, self.user_col, 'user_text'))
                if table is not None]

    def _check_tables(self) -> None:
        header = table_header(self.interactions, 'interactions')
        source = table_source(self.interactions, 'interactions')
        for col in (self.user_col, self.item_col, self.rating_col,
                    self.time_col):
            if col is not None:
                need_column(header, col, source)
        for _, table, col, name in self._text_tables():
            need_column(table_header(table, name), col,
                        table_source(table, name))

    @property
    def raw_file_names(self) -> List[str]:
        return []

    @property
    def processed_file_names(self) -> str:
        return 'data.pt'

    def download(self) -> None:
        pass

    def _read_interactions(self) -> Tuple[Frame, Dict[str, List[Any]]]:
        frame = read_table(self.interactions, 'interactions')
        for col in (self.user_col, self.item_col, self.rating_col,
                    self.time_col):
            if col is not None:  # The file may have changed since __init__.
                need_column(list(frame.columns), col, frame.source)
        mode = self.id_normalization
        return frame, {USER: parse_ids(frame, self.user_col, mode),
                       ITEM: parse_ids(frame, self.item_col, mode)}

    def _read_text(self, table: Table, col: str,
                   name: str) -> Tuple[Frame, List[Any]]:
        frame = read_table(table, name)
        need_column(list(frame.columns), col, frame.source)
        return frame, parse_ids(frame, col, self.id_normalization)

    def process(self) -> None:
        frame, ids = self._read_interactions()
        rating = time = None
        if self.rating_col is not None:
            rating = parse_ratings(frame, self.rating_col, self.min_rating)
        if self.time_col is not None:
            time = parse_times(frame, self.time_col)
        texts, named = [], dict(ids)
        for node_type, table, col, name in self._text_tables():
            text, text_ids = self._read_text(table, col, name)
            texts.append((node_type, text, col,
                          row_of_ids(text, col, text_ids)))
            named[node_type] = named[node_type] + text_ids
        if self.id_normalization == 'strip':
            warn_integer_twins(named[USER], 'user', self.user_col)
            warn_integer_twins(named[ITEM], 'item', self.item_col)
        data = interactions_to_data(
            ids[USER], ids[ITEM], rating=rating, time=time,
            min_rating=self.min_rating, k_core=self.k_core,
            ratios=self.ratios, seed=self.seed)
        for node_type, text, col, row_of in texts:
            attach_columns(data, node_type, text, col, row_of)
        validate_rec_data(data, 'InteractionCSV')
        if self.pre_transform is not None:
            data = self.pre_transform(data)
        self.save([data], self.processed_paths[0])

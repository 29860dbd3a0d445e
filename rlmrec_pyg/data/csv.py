r"""A user's own interactions (and optional text) as a bipartite graph."""
import codecs
import csv
import io
import logging
import math
import numbers
import os
import os.path as osp
import re
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import numpy as np
from torch_geometric.data import HeteroData

from rlmrec_pyg.data.dataset import SafeInMemoryDataset
from rlmrec_pyg.data.graph import validate_rec_data
from rlmrec_pyg.data.interactions import check_ratios, interactions_to_data
from rlmrec_pyg.typing import ITEM, RAW_ID, USER

log = logging.getLogger(__name__)

Table = Union[str, Any]  # a CSV path (str or os.PathLike) or a DataFrame

#: The modes of :obj:`InteractionCSV(id_normalization=...)`.
ID_NORMALIZATIONS = ('strip', 'none', 'numeric')

_INT = re.compile(r'[+-]?[0-9]+')


class _Frame(NamedTuple):
    r"""A table as columns of strings (:obj:`''` for a missing cell)."""
    source: str  # "'interactions' file 'r.csv'" or "DataFrame 'interactions'"
    columns: Dict[str, List[str]]
    rows: List[int]  # the row of every data row as a spreadsheet shows it
    index: Optional[List[Any]] = None  # a DataFrame's index labels


def _row(frame: _Frame, pos: int) -> str:
    out = f'row {frame.rows[pos]}'
    if frame.index is not None:
        out += f' (index {frame.index[pos]!r})'
    return out


def _where(frame: _Frame, pos: int, col: str) -> str:
    return f"{frame.source}, {_row(frame, pos)}, column '{col}'"


def _is_frame(table: Any) -> bool:
    return hasattr(table, 'columns') and hasattr(table, 'to_dict')


def _source(table: Table, name: str) -> str:
    if _is_frame(table):
        return f"DataFrame '{name}'"
    return f"'{name}' file '{os.fspath(table)}'"


def _decode(path: str, name: str) -> str:
    r"""Returns the text of the UTF-8 file :obj:`path` (a leading byte-order
    mark is dropped); names the first byte that is not UTF-8."""
    with open(path, 'rb') as f:
        raw = f.read()
    try:
        return raw.decode('utf-8-sig')
    except UnicodeDecodeError as e:
        # 'utf-8-sig' counts from after the byte-order mark.
        off = e.start + (len(codecs.BOM_UTF8)
                         if raw.startswith(codecs.BOM_UTF8) else 0)
        line = raw.count(b'\n', 0, off) + 1
        raise ValueError(
            f"'{name}' file '{path}' is not UTF-8 text: byte {off} (line "
            f"{line}) is {raw[off:off + 1]!r} ({e.reason}); save it as "
            f"UTF-8 (in a spreadsheet: 'CSV UTF-8')") from None


def _records(text: Iterable[str],
             source: str) -> Iterator[Tuple[int, List[str]]]:
    r"""Yields the spreadsheet row number and the cells of every record that
    holds a non-blank cell."""
    reader = csv.reader(text)
    try:
        for row, cells in enumerate(reader, start=1):
            if any(c.strip() for c in cells):
                yield row, cells
    except csv.Error as e:
        raise ValueError(f"{source}: could not parse line "
                         f"{reader.line_num} as CSV ({e})") from None


def _check_header(header: List[str], source: str) -> None:
    seen: Dict[str, int] = {}
    for col, name in enumerate(header, start=1):
        if seen.setdefault(name, col) != col:
            raise ValueError(f"{source} names the column {name!r} twice "
                             f"(columns {seen[name]} and {col}); column "
                             f"names must be unique")


def _frame_header(table: Any, name: str) -> List[str]:
    header = [str(k) for k in table.columns]
    _check_header(header, f"DataFrame '{name}'")
    return header


def _file_header(path: str, name: str) -> List[str]:
    source = _source(path, name)
    if not osp.isfile(path):
        raise ValueError(f"{source} does not exist")
    try:
        with open(path, newline='', encoding='utf-8-sig') as f:
            for _, header in _records(f, source):
                _check_header(header, source)
                return header
    except UnicodeDecodeError:
        _decode(path, name)  # Raises, naming the byte and the line.
        raise
    raise ValueError(f"{source} is empty (expected a header row with the "
                     f"column names)")


def _header(table: Table, name: str) -> List[str]:
    r"""Returns the column names of :obj:`table` after checking its type
    (and, for a path, that the file exists and starts as UTF-8 CSV)."""
    if _is_frame(table):
        return _frame_header(table, name)
    if isinstance(table, (str, os.PathLike)):
        return _file_header(os.fspath(table), name)
    raise TypeError(f"'{name}' must be a CSV path or a pandas.DataFrame "
                    f"(got {type(table).__name__})")


def _need(header: List[str], col: str, source: str) -> None:
    if col not in header:
        raise ValueError(f"Column '{col}' not found in {source} (columns: "
                         f"{header})")


def _read_file(path: str, name: str) -> _Frame:
    source = _source(path, name)
    header: Optional[List[str]] = None
    body, rows = [], []
    for row, cells in _records(io.StringIO(_decode(path, name), newline=''),
                               source):
        if header is None:
            header = cells
            _check_header(header, source)
        elif len(cells) != len(header):
            raise ValueError(f"{source}: row {row} has {len(cells)} cells, "
                             f"the header has {len(header)}")
        else:
            body.append(cells)
            rows.append(row)
    if header is None:
        raise ValueError(f"{source} is empty (expected a header row with "
                         f"the column names)")
    columns = {k: list(v) for k, v in zip(header, zip(*body))} if body \
        else {k: [] for k in header}
    return _Frame(source, columns, rows)


def _read_frame(table: Any, name: str) -> _Frame:
    columns: Dict[str, List[str]] = {}
    for key, name_ in zip(table.columns, _frame_header(table, name)):
        series = table[key]
        columns[name_] = ['' if missing else str(v) for v, missing in
                          zip(series.tolist(), series.isna().tolist())]
    index = table.index
    index = index.tolist() if hasattr(index, 'tolist') else list(index)
    return _Frame(f"DataFrame '{name}'", columns,
                  list(range(2, len(index) + 2)), index)


def _read(table: Table, name: str) -> _Frame:
    r"""Reads :obj:`table` (a CSV path or a DataFrame) into strings."""
    if _is_frame(table):
        frame = _read_frame(table, name)
    else:
        frame = _read_file(os.fspath(table), name)
    if not frame.rows:
        raise ValueError(f"{frame.source} has no data rows (only a header)")
    return frame


def _ids(frame: _Frame, col: str, mode: str) -> List[Any]:
    r"""Returns the ids of column :obj:`col` normalised as :obj:`mode`
    says (see :class:`InteractionCSV`)."""
    cells = frame.columns[col]
    ids = cells if mode == 'none' else [c.strip() for c in cells]
    if mode == 'numeric':
        bad = next((i for i, v in enumerate(ids) if not _INT.fullmatch(v)),
                   None)
    else:
        bad = ids.index('') if '' in ids else None
    if bad is None:
        return [int(v) for v in ids] if mode == 'numeric' else ids
    where, raw = _where(frame, bad, col), cells[bad]
    if not ids[bad]:
        after = f" (empty after id_normalization={mode!r})" if raw else ''
        raise ValueError(f"{where}: expected a non-empty id, got "
                         f"{raw!r}{after}")
    raise ValueError(f"{where}: expected an integer id (as "
                     f"id_normalization='numeric'), got {raw!r}")


def _warn_integer_twins(ids: Iterable[str], kind: str, col: str) -> None:
    r"""Logs one warning when two distinct ids are equal as integers
    (:obj:`"007"` and :obj:`"7"`)."""
    first: Dict[int, str] = {}
    for v in sorted(set(ids)):
        if _INT.fullmatch(v) and first.setdefault(int(v), v) != v:
            log.warning(f"The {kind} ids {first[int(v)]!r} and {v!r} (column "
                        f"'{col}') are equal as integers but kept as two "
                        f"{kind}s "
                        f"(id_normalization='strip'); pass "
                        f"id_normalization='numeric' to read ids as "
                        f"integers")
            return


def _cell_text(cell: str) -> str:
    return 'an empty cell' if not cell.strip() else repr(cell)


def _ratings(frame: _Frame, col: str,
             min_rating: Optional[float]) -> np.ndarray:
    r"""Returns the ratings of column :obj:`col`: finite numbers, and not
    negative unless :obj:`min_rating` filters them."""
    cells = frame.columns[col]
    try:
        rating = np.asarray(cells).astype(np.float64)
    except ValueError:
        rating = np.empty(len(cells))
        for pos, cell in enumerate(cells):
            try:
                rating[pos] = float(cell)
            except ValueError:
                raise ValueError(f"{_where(frame, pos, col)}: expected a "
                                 f"number (the rating), got "
                                 f"{_cell_text(cell)}") from None
    bad = np.flatnonzero(~np.isfinite(rating))
    if bad.size > 0:
        pos = int(bad[0])
        raise ValueError(f"{_where(frame, pos, col)}: expected a finite "
                         f"rating, got {cells[pos]!r}")
    neg = np.flatnonzero(rating < 0)
    if min_rating is None and neg.size > 0:
        pos = int(neg[0])
        raise ValueError(
            f"{_where(frame, pos, col)}: the rating {cells[pos]!r} is "
            f"negative ({neg.size} row(s) are) and would count as a positive "
            f"interaction, as 'min_rating' is None; set 'min_rating' (e.g., "
            f"min_rating=0) to drop low ratings")
    return rating


def _integer(cell: str) -> Optional[int]:
    cell = cell.strip()
    if _INT.fullmatch(cell):
        value = int(cell)
    else:
        try:
            number = float(cell)
        except ValueError:
            return None
        if not number.is_integer():
            return None
        value = int(number)
    return value if -2**63 <= value < 2**63 else None


def _times(frame: _Frame, col: str) -> List[int]:
    r"""Returns the integer (64-bit) timestamps of column :obj:`col`; an
    integral decimal such as :obj:`"100.0"` is accepted."""
    cells = frame.columns[col]
    try:
        return np.asarray(cells).astype(np.int64).tolist()
    except (ValueError, OverflowError):
        pass
    out = []
    for pos, cell in enumerate(cells):
        value = _integer(cell)
        if value is None:
            raise ValueError(f"{_where(frame, pos, col)}: expected an "
                             f"integer (64-bit) timestamp, got "
                             f"{_cell_text(cell)}")
        out.append(value)
    return out


def _row_of(frame: _Frame, col: str, ids: List[Any]) -> Dict[str, int]:
    r"""Maps every id of a text table to its row; an id twice is an
    error."""
    row_of: Dict[str, int] = {}
    for pos, key in enumerate(map(str, ids)):
        if row_of.setdefault(key, pos) != pos:
            raise ValueError(
                f"{frame.source}, column '{col}': {_row(frame, row_of[key])} "
                f"and {_row(frame, pos)} hold the same id {key!r}; keep one "
                f"row per id")
    return row_of


def _attach(data: HeteroData, node_type: str, frame: _Frame, id_col: str,
            row_of: Dict[str, int]) -> None:
    for key, values in frame.columns.items():
        if key == id_col:
            continue
        data[node_type][key] = [
            values[row_of[r]] if r in row_of else ''
            for r in data[node_type][RAW_ID]
        ]


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
        header = _header(self.interactions, 'interactions')
        source = _source(self.interactions, 'interactions')
        for col in (self.user_col, self.item_col, self.rating_col,
                    self.time_col):
            if col is not None:
                _need(header, col, source)
        for _, table, col, name in self._text_tables():
            _need(_header(table, name), col, _source(table, name))

    @property
    def raw_file_names(self) -> List[str]:
        return []

    @property
    def processed_file_names(self) -> str:
        return 'data.pt'

    def download(self) -> None:
        pass

    def _read_interactions(self) -> Tuple[_Frame, Dict[str, List[Any]]]:
        frame = _read(self.interactions, 'interactions')
        for col in (self.user_col, self.item_col, self.rating_col,
                    self.time_col):
            if col is not None:  # The file may have changed since __init__.
                _need(list(frame.columns), col, frame.source)
        mode = self.id_normalization
        return frame, {USER: _ids(frame, self.user_col, mode),
                       ITEM: _ids(frame, self.item_col, mode)}

    def _read_text(self, table: Table, col: str,
                   name: str) -> Tuple[_Frame, List[Any]]:
        frame = _read(table, name)
        _need(list(frame.columns), col, frame.source)
        return frame, _ids(frame, col, self.id_normalization)

    def process(self) -> None:
        frame, ids = self._read_interactions()
        rating = time = None
        if self.rating_col is not None:
            rating = _ratings(frame, self.rating_col, self.min_rating)
        if self.time_col is not None:
            time = _times(frame, self.time_col)
        texts, named = [], dict(ids)
        for node_type, table, col, name in self._text_tables():
            text, text_ids = self._read_text(table, col, name)
            texts.append((node_type, text, col, _row_of(text, col, text_ids)))
            named[node_type] = named[node_type] + text_ids
        if self.id_normalization == 'strip':
            _warn_integer_twins(named[USER], 'user', self.user_col)
            _warn_integer_twins(named[ITEM], 'item', self.item_col)
        data = interactions_to_data(
            ids[USER], ids[ITEM], rating=rating, time=time,
            min_rating=self.min_rating, k_core=self.k_core,
            ratios=self.ratios, seed=self.seed)
        for node_type, text, col, row_of in texts:
            _attach(data, node_type, text, col, row_of)
        validate_rec_data(data, 'InteractionCSV')
        if self.pre_transform is not None:
            data = self.pre_transform(data)
        self.save([data], self.processed_paths[0])

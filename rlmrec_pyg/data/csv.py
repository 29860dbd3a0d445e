r"""A user's own interactions (and optional text) as a bipartite graph."""
import csv
import os.path as osp
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from torch_geometric.data import HeteroData

from rlmrec_pyg.data.dataset import SafeInMemoryDataset
from rlmrec_pyg.data.graph import validate_rec_data
from rlmrec_pyg.data.interactions import interactions_to_data
from rlmrec_pyg.typing import ITEM, RAW_ID, USER

Table = Union[str, Any]  # a CSV path or a pandas.DataFrame


def _columns(table: Table, name: str) -> Dict[str, List[str]]:
    if isinstance(table, str):
        if not osp.isfile(table):
            raise ValueError(f"'{name}' file '{table}' does not exist")
        with open(table, newline='', encoding='utf-8') as f:
            rows = list(csv.DictReader(f))
        if not rows:
            raise ValueError(f"'{name}' file '{table}' has no rows")
        return {k: [r[k] for r in rows] for k in rows[0]}
    if hasattr(table, 'columns') and hasattr(table, 'to_dict'):
        return {str(k): [str(v) for v in table[k].tolist()]
                for k in table.columns}
    raise TypeError(f"'{name}' must be a CSV path or a pandas.DataFrame "
                    f"(got {type(table).__name__})")


def _need(cols: Dict[str, List[str]], col: str, name: str) -> List[str]:
    if col not in cols:
        raise ValueError(f"Column '{col}' not found in '{name}' (columns: "
                         f"{sorted(cols)})")
    return cols[col]


def _attach(data: HeteroData, node_type: str, table: Table, id_col: str,
            name: str) -> None:
    cols = _columns(table, name)
    ids = _need(cols, id_col, name)
    row_of = {v: i for i, v in enumerate(ids)}
    for key, values in cols.items():
        if key == id_col:
            continue
        data[node_type][key] = [
            values[row_of[r]] if r in row_of else ''
            for r in data[node_type][RAW_ID]
        ]


class InteractionCSV(SafeInMemoryDataset):
    r"""Your own interactions as a graph in the :mod:`rlmrec_pyg.data`
    representation.

    Reads a table of interactions (a CSV path or a :class:`pandas.DataFrame`)
    with a user id, an item id and optionally a rating and a timestamp. Ids
    may be arbitrary strings: they are mapped to contiguous indices and the
    originals are kept as :obj:`data[node_type].raw_id`. The filtering and
    split options are those of :class:`~rlmrec_pyg.data.MovieLensText`.
    Optional text tables (one row per user or item, keyed by the same id
    column) add each of their columns as a per-node list of strings (empty
    for nodes without a row).

    .. code-block:: python

        dataset = InteractionCSV('data/mine', 'ratings.csv',
                                 user_col='user', item_col='item',
                                 item_text='items.csv')

    Args:
        root (str): Root directory for the processed file.
        interactions (str or pandas.DataFrame): The interactions.
        user_col (str, optional): User id column. (default: :obj:`"user"`)
        item_col (str, optional): Item id column. (default: :obj:`"item"`)
        rating_col (str, optional): Rating column. (default: :obj:`None`)
        time_col (str, optional): Timestamp column (integers).
            (default: :obj:`None`)
        min_rating (float, optional): Lowest rating kept.
            (default: :obj:`None`)
        k_core (int, optional): Iterative k-core. (default: :obj:`0`)
        ratios (tuple, optional): Train/val/test weights.
            (default: :obj:`(3, 1, 1)`)
        seed (int, optional): Seed of the split. (default: :obj:`0`)
        item_text (str or pandas.DataFrame, optional): Item text table keyed
            by :obj:`item_col`. (default: :obj:`None`)
        user_text (str or pandas.DataFrame, optional): User text table keyed
            by :obj:`user_col`. (default: :obj:`None`)
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
                 force_reload: bool = True) -> None:
        self.interactions = interactions
        self.user_col, self.item_col = user_col, item_col
        self.rating_col, self.time_col = rating_col, time_col
        self.min_rating, self.k_core = min_rating, k_core
        self.ratios, self.seed = tuple(ratios), seed
        self.item_text, self.user_text = item_text, user_text
        super().__init__(root, transform, pre_transform,
                         force_reload=force_reload)
        self.load(self.processed_paths[0], data_cls=HeteroData)

    @property
    def raw_file_names(self) -> List[str]:
        return []

    @property
    def processed_file_names(self) -> str:
        return 'data.pt'

    def download(self) -> None:
        pass

    def process(self) -> None:
        cols = _columns(self.interactions, 'interactions')
        rating = time = None
        if self.rating_col is not None:
            rating = [float(v) for v in _need(cols, self.rating_col,
                                              'interactions')]
        if self.time_col is not None:
            time = [int(float(v)) for v in _need(cols, self.time_col,
                                                 'interactions')]
        data = interactions_to_data(
            _need(cols, self.user_col, 'interactions'),
            _need(cols, self.item_col, 'interactions'), rating=rating,
            time=time, min_rating=self.min_rating, k_core=self.k_core,
            ratios=self.ratios, seed=self.seed)
        if self.item_text is not None:
            _attach(data, ITEM, self.item_text, self.item_col, 'item_text')
        if self.user_text is not None:
            _attach(data, USER, self.user_text, self.user_col, 'user_text')
        validate_rec_data(data, 'InteractionCSV')
        if self.pre_transform is not None:
            data = self.pre_transform(data)
        self.save([data], self.processed_paths[0])

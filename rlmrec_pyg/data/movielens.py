r"""MovieLens latest-small as a text-attributed bipartite graph: the dataset
that runs RLMRec end to end with no API key."""
import csv
import os
import os.path as osp
import re
import zipfile
from collections import Counter, defaultdict
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

from torch_geometric.data import HeteroData

from rlmrec_pyg.data.download import check_sha256, fetch
from rlmrec_pyg.data.dataset import SafeInMemoryDataset
from rlmrec_pyg.data.graph import validate_rec_data
from rlmrec_pyg.data.interactions import interactions_to_data
from rlmrec_pyg.typing import EDGE, ITEM, RAW_ID, TEST_INDEX, USER, VAL_INDEX

#: SHA-256 of the CSVs of the 2018 release (the zip's own bytes vary).
CSV_SHA256 = {
    'movies.csv':
    '5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07',
    'ratings.csv':
    'aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646',
    'tags.csv':
    '92a9f8bb7916dceef6151209845788c3643f794dfa79d1feaec7121b5960399d',
    'links.csv':
    '97ad18e4e56a09363c65676b6cb3482ce3e2cea2372a24620c1599c843325f31',
}

_YEAR = re.compile(r'^(.*?)\s*\((\d{4})\)\s*$')


def _read_csv(path: str) -> List[Dict[str, str]]:
    with open(path, newline='', encoding='utf-8') as f:
        return list(csv.DictReader(f))


def _split_title(title: str) -> Tuple[str, str]:
    match = _YEAR.match(title.strip())
    return (match.group(1), match.group(2)) if match else (title.strip(), '')


def _rank_tags(tags: Sequence[str]) -> List[str]:
    # Unique tags (case-insensitive), most frequent first, ties by name.
    counts = Counter(t.strip().lower() for t in tags if t.strip())
    return sorted(counts, key=lambda t: (-counts[t], t))


class MovieLensText(SafeInMemoryDataset):
    r"""The MovieLens latest-small dataset (`"The MovieLens Datasets: History
    and Context" <https://doi.org/10.1145/2827872>`_; 610 users, 9742 movies,
    100836 ratings, 3683 tags) as a text-attributed user-item graph in the
    :mod:`rlmrec_pyg.data` representation.

    Protocol:

    * implicit feedback: ratings :math:`\geq` :obj:`min_rating` (3.0, as the
      paper drops ratings below 3);
    * iterative :obj:`k_core` (5) on users and items;
    * a seeded random 3:1:1 split of each user's interactions with at least
      one training item per user
      (:func:`~rlmrec_pyg.data.interactions.split_per_user`);
    * item text: :obj:`title`, :obj:`year`, :obj:`genres` (comma separated)
      and :obj:`tags` (unique free-text tags, most frequent first); a tag
      counts only if its (user, movie) pair is **not** a validation or test
      interaction, so held-out interactions never reach the text;
    * user text: :obj:`tags`, the tags a user gave to their **training**
      items only.

    The CSVs are verified against their SHA-256 (:obj:`CSV_SHA256`).

    Args:
        root (str): Root directory.
        min_rating (float, optional): Lowest rating kept as an interaction.
            (default: :obj:`3.0`)
        k_core (int, optional): Iterative k-core. (default: :obj:`5`)
        ratios (tuple, optional): Train/val/test weights.
            (default: :obj:`(3, 1, 1)`)
        seed (int, optional): Seed of the split. (default: :obj:`0`)
        transform (callable, optional): Applied on every access.
        pre_transform (callable, optional): Applied before saving.
        force_reload (bool, optional): Re-process. (default: :obj:`False`)
    """
    url = 'https://files.grouplens.org/datasets/movielens/ml-latest-small.zip'

    def __init__(self, root: str, min_rating: float = 3.0, k_core: int = 5,
                 ratios: Sequence[float] = (3, 1, 1), seed: int = 0,
                 transform: Optional[Callable] = None,
                 pre_transform: Optional[Callable] = None,
                 force_reload: bool = False) -> None:
        self.min_rating = float(min_rating)
        self.k_core = int(k_core)
        self.ratios = tuple(float(r) for r in ratios)
        self.seed = int(seed)
        super().__init__(root, transform, pre_transform,
                         force_reload=force_reload)
        self.load(self.processed_paths[0], data_cls=HeteroData)

    @property
    def raw_file_names(self) -> List[str]:
        return [osp.join('ml-latest-small', f) for f in CSV_SHA256]

    @property
    def processed_file_names(self) -> str:
        ratios = '-'.join(f'{r:g}' for r in self.ratios)
        return (f'data_r{self.min_rating:g}_k{self.k_core}_s{ratios}_'
                f'seed{self.seed}.pt')

    def download(self) -> None:
        path = fetch(self.url, self.raw_dir, 'movielens',
                     'ml-latest-small.zip')
        with zipfile.ZipFile(path) as zf:
            zf.extractall(self.raw_dir)
        os.remove(path)

    def process(self) -> None:
        for path in self.raw_paths:
            check_sha256(path, CSV_SHA256[osp.basename(path)])
        raw = osp.join(self.raw_dir, 'ml-latest-small')
        ratings = _read_csv(osp.join(raw, 'ratings.csv'))
        data = interactions_to_data(
            [int(r['userId']) for r in ratings],
            [int(r['movieId']) for r in ratings],
            rating=[float(r['rating']) for r in ratings],
            time=[int(r['timestamp']) for r in ratings],
            min_rating=self.min_rating, k_core=self.k_core,
            ratios=self.ratios, seed=self.seed)
        self._attach_text(data, raw)
        validate_rec_data(data, 'MovieLensText')
        if self.pre_transform is not None:
            data = self.pre_transform(data)
        self.save([data], self.processed_paths[0])

    @staticmethod
    def _attach_text(data: HeteroData, raw: str) -> None:
        users: List[str] = data[USER][RAW_ID]
        items: List[str] = data[ITEM][RAW_ID]
        movies = {m['movieId']: m for m in _read_csv(osp.join(raw,
                                                              'movies.csv'))}
        titles, years, genres = [], [], []
        for movie_id in items:
            title, year = _split_title(movies[movie_id]['title'])
            g = movies[movie_id]['genres']
            titles.append(title)
            years.append(year)
            genres.append('' if g == '(no genres listed)' else ', '.join(
                g.split('|')))
        data[ITEM].title, data[ITEM].year = titles, years
        data[ITEM].genres = genres

        def pairs(key: str) -> Set[Tuple[str, str]]:
            index = data[EDGE][key]
            return {(users[u], items[i]) for u, i in index.t().tolist()}

        train = pairs('edge_index')
        held_out = pairs(VAL_INDEX) | pairs(TEST_INDEX)
        item_tags: Dict[str, List[str]] = defaultdict(list)
        user_tags: Dict[str, List[str]] = defaultdict(list)
        for row in _read_csv(osp.join(raw, 'tags.csv')):
            pair = (row['userId'], row['movieId'])
            if pair in held_out:
                continue
            item_tags[row['movieId']].append(row['tag'])
            if pair in train:
                user_tags[row['userId']].append(row['tag'])
        data[ITEM].tags = [_rank_tags(item_tags[i]) for i in items]
        data[USER].tags = [_rank_tags(user_tags[u]) for u in users]

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}()'

r"""The official RLMRec datasets (Amazon-book, Yelp, Steam) as bipartite
:class:`~torch_geometric.data.HeteroData`
(docs/parity.md#datasets-and-splits)."""
import logging
import os
import os.path as osp
import shutil
import zipfile
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch_geometric.data import HeteroData

from rlmrec_pyg.data.download import fetch, mirror_path
from rlmrec_pyg.data.dataset import SafeInMemoryDataset
from rlmrec_pyg.data.graph import (build_rec_data, check_finite_rows,
                                   validate_rec_data)
from rlmrec_pyg.data.unpickle import safe_load
from rlmrec_pyg.typing import ITEM, PROFILE, REASONING, SEM_EMB, USER

log = logging.getLogger(__name__)

SPLIT_FILES = ('trn_mat.pkl', 'val_mat.pkl', 'tst_mat.pkl')
#: Optional files: ``(file, node type, kind)``.
EXTRA_FILES = (
    ('usr_prf.pkl', USER, 'profile'),
    ('itm_prf.pkl', ITEM, 'profile'),
    ('usr_emb_np.pkl', USER, 'emb'),
    ('itm_emb_np.pkl', ITEM, 'emb'),
)


def _to_index(mat: Any, path: str) -> Tuple[torch.Tensor, Tuple[int, int]]:
    if not hasattr(mat, 'tocoo') or not hasattr(mat, 'shape'):
        raise ValueError(f"Expected a scipy sparse matrix in '{path}' (got "
                         f"{type(mat).__name__})")
    coo = mat.tocsr().tocoo()  # row-major order, as the official loader
    nz = coo.data != 0
    index = np.stack([coo.row[nz], coo.col[nz]]).astype(np.int64)
    return torch.from_numpy(index), (int(mat.shape[0]), int(mat.shape[1]))


def _to_profiles(obj: Any, num: int, path: str) -> Tuple[List[str], List[str]]:
    if isinstance(obj, dict):
        missing = [i for i in range(num) if i not in obj]
        if missing:
            raise ValueError(f"'{path}' lacks profiles for {len(missing)} of "
                             f"{num} ids (first: {missing[0]})")
        entries = [obj[i] for i in range(num)]
    else:
        entries = list(obj)
        if len(entries) != num:
            raise ValueError(f"Expected {num} profiles in '{path}' (got "
                             f"{len(entries)})")
    profiles, reasonings = [], []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or 'profile' not in entry:
            raise ValueError(f"Entry {i} of '{path}' is not a dict with a "
                             f"'profile' key (got {type(entry).__name__})")
        profiles.append(str(entry['profile']))
        reasonings.append(str(entry.get('reasoning', '')))
    return profiles, reasonings


def _to_embedding(obj: Any, num: int, path: str,
                  node_type: str) -> torch.Tensor:
    try:
        emb = torch.as_tensor(np.asarray(obj, dtype=np.float32))
    except (TypeError, ValueError) as e:
        raise ValueError(f"Expected a 2-D numeric array in '{path}' ({e})")
    if emb.dim() != 2 or emb.size(0) != num:
        raise ValueError(f"Expected embeddings of shape [{num}, d] in "
                         f"'{path}' (got {list(emb.size())})")
    check_finite_rows(emb, f"'sem_emb' of node type '{node_type}' from "
                      f"'{path}'")
    return emb


class RLMRecDataset(SafeInMemoryDataset):
    r"""The Amazon-book, Yelp and Steam datasets released with the
    `"Representation Learning with Large Language Models for Recommendation"
    <https://arxiv.org/abs/2310.15950>`_ paper, pre-split 3:1:1.

    :meth:`download` fetches the official archive and keeps only the folder of
    :obj:`name`. The raw folder holds the official files: the interaction
    matrices :obj:`trn_mat.pkl`, :obj:`val_mat.pkl`, :obj:`tst_mat.pkl`
    (required) and, when present, the LLM profiles :obj:`usr_prf.pkl` /
    :obj:`itm_prf.pkl` (attached as :obj:`profile` and :obj:`reasoning`) and
    the text embeddings :obj:`usr_emb_np.pkl` / :obj:`itm_emb_np.pkl`
    (attached as :obj:`sem_emb`). Every pickle is read with a restricted
    unpickler (:func:`rlmrec_pyg.data.unpickle.safe_load`) and validated:
    equal shapes, disjoint splits, one profile/embedding row per node, no
    NaN or infinity; the processed folder is read without running code
    (:class:`~rlmrec_pyg.data.dataset.SafeInMemoryDataset`).

    .. code-block:: python

        dataset = RLMRecDataset('data/rlmrec', 'amazon')
        data = dataset[0]  # HeteroData, see rlmrec_pyg.data

    Args:
        root (str): Root directory; files live in :obj:`root/<name>/`.
        name (str): :obj:`"amazon"`, :obj:`"yelp"` or :obj:`"steam"`.
        transform (callable, optional): Applied on every access.
        pre_transform (callable, optional): Applied before saving.
        force_reload (bool, optional): Re-process. (default: :obj:`False`)
    """
    url = 'https://archive.org/download/rlmrec_data/data.zip'
    names = ('amazon', 'yelp', 'steam')

    def __init__(self, root: str, name: str,
                 transform: Optional[Callable] = None,
                 pre_transform: Optional[Callable] = None,
                 force_reload: bool = False) -> None:
        if name not in self.names:
            raise ValueError(f"Unknown dataset '{name}' in "
                             f"'{self.__class__.__name__}' (choose from "
                             f"{list(self.names)})")
        self.name = name
        super().__init__(root, transform, pre_transform,
                         force_reload=force_reload)
        self.load(self.processed_paths[0], data_cls=HeteroData)

    @property
    def raw_dir(self) -> str:
        return osp.join(self.root, self.name, 'raw')

    @property
    def processed_dir(self) -> str:
        return osp.join(self.root, self.name, 'processed')

    @property
    def raw_file_names(self) -> List[str]:
        return list(SPLIT_FILES)

    def _extras(self) -> List[str]:
        return [f for f, _, _ in EXTRA_FILES
                if osp.exists(osp.join(self.raw_dir, f))]

    @property
    def processed_file_names(self) -> str:
        # The optional files present are part of the cache key.
        tags = [f.split('.')[0] for f in self._extras()]
        return '_'.join(['data'] + tags) + '.pt'

    def download(self) -> None:
        mirror = mirror_path('rlmrec', self.name)
        if mirror is not None:
            os.makedirs(self.raw_dir, exist_ok=True)
            for f in SPLIT_FILES + tuple(f for f, _, _ in EXTRA_FILES):
                if osp.isfile(osp.join(mirror, f)):
                    fetch(self.url, self.raw_dir, 'rlmrec', self.name, f)
            return
        path = fetch(self.url, self.raw_dir)
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()
                       and osp.basename(osp.dirname(m.filename)) == self.name]
            if not members:
                raise ValueError(f"The archive '{path}' has no folder "
                                 f"'{self.name}/'")
            for m in members:
                dst = osp.join(self.raw_dir, osp.basename(m.filename))
                with zf.open(m) as src, open(dst, 'wb') as out:
                    shutil.copyfileobj(src, out)
        os.remove(path)

    def process(self) -> None:
        paths = [osp.join(self.raw_dir, f) for f in SPLIT_FILES]
        splits, shapes = [], []
        for path in paths:
            index, shape = _to_index(safe_load(path), path)
            splits.append(index)
            shapes.append(shape)
        if len(set(shapes)) != 1:
            raise ValueError(f"The split matrices of '{self.name}' disagree "
                             f"in shape: {dict(zip(SPLIT_FILES, shapes))}")
        num_users, num_items = shapes[0]
        data = build_rec_data(num_users, num_items, *splits)
        num_nodes: Dict[str, int] = {USER: num_users, ITEM: num_items}
        for f, node_type, kind in EXTRA_FILES:
            path = osp.join(self.raw_dir, f)
            if not osp.exists(path):
                continue
            obj = safe_load(path)
            if kind == 'profile':
                prf, rsn = _to_profiles(obj, num_nodes[node_type], path)
                data[node_type][PROFILE] = prf
                data[node_type][REASONING] = rsn
            else:
                data[node_type][SEM_EMB] = _to_embedding(
                    obj, num_nodes[node_type], path, node_type)
        validate_rec_data(data, self.name)
        if self.pre_transform is not None:
            data = self.pre_transform(data)
        self.save([data], self.processed_paths[0])

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.name})'

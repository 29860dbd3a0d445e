r"""A trained model's user and item embeddings as files, with raw ids:
NumPy (``<node type>_embeddings.npy`` and ``<node type>_ids.json``) or
Parquet (``<node type>_embeddings.parquet``, columns ``id`` and
``embedding``), each written crash-safely."""
import json
import os.path as osp
from typing import Dict, List, Sequence

import numpy as np
from torch import Tensor

from rlmrec_pyg.io import atomic_write

FORMATS = ('npy', 'parquet')


def save_embeddings(folder: str, z_dict: Dict[str, Tensor],
                    raw_ids: Dict[str, Sequence[str]],
                    format: str = 'npy') -> List[str]:
    r"""Writes every node type's embeddings :obj:`z_dict[nt]` (as float32)
    beside its raw ids :obj:`raw_ids[nt]` (row :obj:`k` is node :obj:`k`)
    into :obj:`folder`; returns the paths written."""
    if format not in FORMATS:
        raise ValueError(f"'format' must be one of "
                         f"{', '.join(map(repr, FORMATS))} (got {format!r})")
    paths = []
    for nt, z in z_dict.items():
        ids = [str(i) for i in raw_ids[nt]]
        if len(ids) != z.size(0):
            raise ValueError(f"'{nt}' has {z.size(0)} embeddings but "
                             f"{len(ids)} raw ids")
        emb = z.detach().float().cpu().numpy()
        if format == 'npy':
            path = osp.join(folder, f'{nt}_embeddings.npy')
            atomic_write(path, lambda f, e=emb: np.save(f, e))
            ids_path = osp.join(folder, f'{nt}_ids.json')
            atomic_write(ids_path, lambda f, i=ids: json.dump(i, f), 'w')
            paths += [path, ids_path]
            continue
        from rlmrec_pyg.data.recipe.readers import require_pyarrow
        pa = require_pyarrow()
        import pyarrow.parquet as pq
        table = pa.table({
            'id': pa.array(ids, pa.string()),
            'embedding': pa.FixedSizeListArray.from_arrays(
                pa.array(emb.reshape(-1)), emb.shape[1])})
        path = osp.join(folder, f'{nt}_embeddings.parquet')
        atomic_write(path, lambda f, t=table: pq.write_table(t, f))
        paths.append(path)
    return paths

r"""Shared helpers of the profile tests."""
from typing import Any, Dict

import torch
from torch_geometric.data import HeteroData

from rlmrec_pyg.profiles import attach_reviews
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.typing import EDGE, TEST_INDEX, VAL_INDEX

LONG = ' '.join(['word'] * 250)


def review_data(num_users: int = 20, num_items: int = 30,
                seed: int = 0) -> HeteroData:
    r"""Random data whose every interaction (train, val, test) has a
    review naming its split, user and item, followed by 250 words."""
    data = get_random_rec_data(num_users, num_items, seed=seed)
    store = data[EDGE]
    parts = [('TRAINREV', store.edge_index), ('VALREV', store[VAL_INDEX]),
             ('TESTREV', store[TEST_INDEX])]
    index = torch.cat([p[1] for p in parts], dim=1)
    texts = [
        f'{tag}-u{u}-i{i} {LONG}' for tag, idx in parts
        for u, i in idx.t().tolist()
    ]
    return attach_reviews(data, index, texts)


def profiler_kwargs(url: str, cache_dir: str, **kwargs: Any) -> Dict:
    out = dict(base_url=url, cache_dir=cache_dir, api_key='sk-test-key',
               backoff=0.001, max_backoff=0.01, timeout=0.5,
               max_concurrency=4)
    out.update(kwargs)
    return out


def ok_per_node(path: str) -> Dict[Any, int]:
    r"""Answers per node in the cache folder of :obj:`path` (every database
    file of it), read with plain SQL."""
    import glob
    import os.path as osp
    import sqlite3
    folder = path if osp.isdir(path) else osp.dirname(path)
    counts: Dict[Any, int] = {}
    for file in glob.glob(osp.join(folder, 'profiles*.sqlite')):
        con = sqlite3.connect(f'file:{file}?mode=ro', uri=True)
        for node_type, node_id in con.execute(
                "SELECT node_type, node_id FROM answers WHERE status = 'ok'"):
            key = (node_type, node_id)
            counts[key] = counts.get(key, 0) + 1
        con.close()
    return counts


def num_answers(path: str) -> int:
    r"""The answers in the cache folder of :obj:`path` (0 before it
    exists)."""
    import os.path as osp
    folder = path if osp.isdir(path) else osp.dirname(path)
    if not osp.isdir(folder):
        return 0
    try:
        return sum(ok_per_node(folder).values())
    except Exception:  # Created meanwhile: not a database yet.
        return 0

r"""Shared helpers of the profile tests."""
from typing import Any, Dict, List

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
    import json
    counts: Dict[Any, int] = {}
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            if rec['status'] == 'ok':
                key = (rec['node_type'], rec['node_id'])
                counts[key] = counts.get(key, 0) + 1
    return counts


def lines(path: str) -> List[str]:
    with open(path) as f:
        return f.read().splitlines()

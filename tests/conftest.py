import os
import os.path as osp

import pytest


@pytest.fixture(scope='session')
def data_cache() -> str:
    r"""The local data cache (``$RLMREC_DATA_CACHE``); tests that need real
    data skip when it is not set."""
    path = os.environ.get('RLMREC_DATA_CACHE')
    if not path or not osp.isdir(path):
        pytest.skip('RLMREC_DATA_CACHE is not set to a folder')
    return path


@pytest.fixture(scope='session')
def amazon(data_cache, tmp_path_factory):
    from rlmrec_pyg.data import RLMRecDataset
    if not osp.isdir(osp.join(data_cache, 'rlmrec', 'amazon')):
        pytest.skip('the cache has no rlmrec/amazon folder')
    root = tmp_path_factory.mktemp('rlmrec')
    return RLMRecDataset(str(root), 'amazon')[0]


@pytest.fixture(scope='session')
def movielens(data_cache, tmp_path_factory):
    from rlmrec_pyg.data import MovieLensText
    root = tmp_path_factory.mktemp('movielens')
    return MovieLensText(str(root))

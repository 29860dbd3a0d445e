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


@pytest.fixture(scope='session')
def work_root(tmp_path_factory) -> str:
    r"""A session-wide working folder whose :obj:`data/` holds MovieLens and
    the vector cache shared by the README test and the examples, so that
    all-MiniLM-L6-v2 encodes the MovieLens profiles once per session."""
    root = tmp_path_factory.mktemp('work')
    (root / 'data').mkdir()
    return str(root)

import pytest
import torch

from rlmrec_pyg.profiles import OfflineProfiler
from rlmrec_pyg.semantic import (AttachSemantic, HashTextEncoder,
                                 OfficialSemantic)
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.typing import ITEM, PROFILE, REASONING, SEM_EMB, USER


def profiled():
    data = get_random_rec_data(sem_channels=0)
    data[USER][PROFILE] = [f'user {i} likes drama' for i in range(20)]
    data[ITEM][PROFILE] = [f'item {i} drama' for i in range(30)]
    data[USER][REASONING] = ['because'] * 20
    data[ITEM][REASONING] = ['since'] * 30
    return data


def test_attach_profiles_only_by_default(tmp_path):
    encoder = HashTextEncoder(16)
    transform = AttachSemantic(encoder, cache_dir=str(tmp_path))
    out = transform(profiled())
    assert out[USER][SEM_EMB].shape == (20, 16)
    assert torch.equal(out[ITEM][SEM_EMB],
                       encoder.encode([f'item {i} drama' for i in range(30)]))
    both = AttachSemantic(encoder, include_reasoning=True)(profiled())
    assert torch.equal(both[USER][SEM_EMB][3],
                       encoder.encode(['user 3 likes drama\nbecause'])[0])
    assert str(transform) == ("AttachSemantic('hash-16-0', "
                              "include_reasoning=False)")


def test_missing_profiles_use_the_profiler():
    data = get_random_rec_data(sem_channels=0)
    with pytest.raises(ValueError, match="Expected 'profile'"):
        AttachSemantic(HashTextEncoder())(data)
    out = AttachSemantic(HashTextEncoder(),
                         profiler=OfflineProfiler('movie'))(data)
    assert out[ITEM][SEM_EMB].shape == (30, 16) and PROFILE in out[USER]
    with pytest.raises(TypeError, match="'encoder' must have"):
        AttachSemantic(object())


def test_official_semantic():
    data = get_random_rec_data(sem_channels=4)
    assert OfficialSemantic()(data)[USER][SEM_EMB].shape == (20, 4)
    with pytest.raises(ValueError, match='official data.zip'):
        OfficialSemantic()(get_random_rec_data(sem_channels=0))

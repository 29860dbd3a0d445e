import os.path as osp

import pytest
import torch
import torch.multiprocessing as mp
from distributed_helpers import one_step, worker

from rlmrec_pyg.train import distributed


def run_ranks(tmp_path, kind, batch_size, world=2):
    mp.spawn(worker, args=(world, str(tmp_path / 'init'), kind, batch_size,
                           str(tmp_path)), nprocs=world, join=True)
    return [torch.load(osp.join(tmp_path, f'rank{r}.pt'), weights_only=True)
            for r in range(world)]


@pytest.mark.parametrize('kind', ['lightgcn_con', 'lightgcn_con_in_batch',
                                  'lightgcn_con_blocks', 'sgl'])
def test_two_processes_give_the_one_process_gradient(tmp_path, kind):
    # Two steps: an odd batch split 2 ways (unequal shares), then a batch
    # of one row (or two: equal shares) that both processes take whole.
    single_delta, single_stats = one_step(kind, batch_size='odd')
    ranks = run_ranks(tmp_path, kind, batch_size='odd')
    for out in ranks:
        assert set(out['delta']) == set(single_delta)
        for name, value in single_delta.items():
            assert value.abs().max() > 0, name
            torch.testing.assert_close(out['delta'][name], value, atol=1e-5,
                                       rtol=1e-4, msg=name)
        assert out['stats'].keys() == single_stats.keys()
        for key, value in single_stats.items():
            assert out['stats'][key] == pytest.approx(value, rel=1e-5), key


def test_share_splits_contiguously_and_evenly():
    rows = [distributed.share(10, r, 3) for r in range(3)]
    assert rows == [(0, 4), (4, 7), (7, 10)]
    assert distributed.share(2, 1, 2) == (1, 2)
    assert distributed.world_size() == 1 and distributed.rank() == 0
    x = torch.arange(3)
    assert distributed.all_gather_cat(x) is x
    assert distributed.all_reduce_sum(x) is x

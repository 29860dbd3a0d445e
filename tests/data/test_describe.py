from rlmrec_pyg.data.__main__ import describe, main
from rlmrec_pyg.testing import get_random_rec_data


def test_describe_fake():
    data = get_random_rec_data(num_users=20, num_items=30, sem_channels=8)
    stats = describe(data)
    assert (stats['users'], stats['items']) == (20, 30)
    assert stats['train'] + stats['val'] + stats['test'] == sum(
        data['user', 'to', 'item'][k].size(1)
        for k in ('edge_index', 'val_edge_index', 'test_edge_index'))
    assert stats['item fields'] == 'title, description, genres, sem_emb[30, 8]'


def test_describe_cli(data_cache, tmp_path, capsys):
    main(['amazon', '--root', str(tmp_path)])
    out = capsys.readouterr().out
    assert 'users        11000' in out and 'items        9332' in out

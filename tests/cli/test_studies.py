r"""The paper's studies from a run config: transforms composed from the
config keys, one clear error before any work, pre-train then fine-tune."""
import csv
import math
import os
import os.path as osp

import pytest
import torch
from run_helpers import get_cfg, run

from rlmrec_pyg.cli.studies import data_transforms, prepare_data
from rlmrec_pyg.data import AddNoiseInteractions, ShuffleSemantic, TimeWindow
from rlmrec_pyg.nn import NodeEmbedding
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.train.checkpoint import load_pretrained
from rlmrec_pyg.typing import EDGE, ITEM, USER


def test_transforms_from_config(tmp_path):
    # Mutations caught: a study key ignored, transforms in another order,
    # the seed not passed on.
    cfg = get_cfg(tmp_path, ['time_window=[0.2,0.9]', 'noise_ratio=0.1',
                             'shuffle_semantic=true', 'seed=7'])
    steps = data_transforms(cfg, align=True)
    assert [type(t) for t in steps] == [TimeWindow, AddNoiseInteractions,
                                        ShuffleSemantic]
    assert (steps[0].start, steps[0].end) == (0.2, 0.9)
    assert (steps[1].ratio, steps[1].seed, steps[2].seed) == (0.1, 7, 7)
    assert data_transforms(get_cfg(tmp_path, []), align=False) == []
    with pytest.raises(ValueError, match="'shuffle_semantic=true' needs "
                       "alignment"):
        data_transforms(cfg, align=False)


def test_alignment_without_semantic_fails_at_start(tmp_path):
    # (Unknown dataset/model names: tests/test_configs.py.)
    # Alignment on a graph without semantic vectors or text: one sentence,
    # before any training (no checkpoint, no metrics).
    cfg = get_cfg(tmp_path, ['alignment=contrastive',
                             'dataset.sem_channels=0'])
    with pytest.raises(ValueError, match="^Alignment needs semantic vectors,"
                       " but dataset '[^']+' has no 'sem_emb' "):
        run(cfg)
    cfg = get_cfg(tmp_path, ['alignment=generative', 'semantic=minilm'])
    with pytest.raises(ValueError, match='has no item profiles or text'):
        run(cfg)
    assert not os.listdir(tmp_path)


def test_noise_and_pretrained_init(tmp_path):
    cfg = get_cfg(tmp_path, ['noise_ratio=0.2'])
    data = get_random_rec_data(num_users=60, num_items=80,
                               num_interactions=900)
    noisy = prepare_data(data, cfg, align=False)
    num = data[EDGE].edge_index.size(1)
    assert noisy[EDGE].edge_index.size(1) == num + int(0.2 * num)
    assert torch.equal(noisy[EDGE].test_edge_index, data[EDGE].test_edge_index)

    out = run(get_cfg(tmp_path, ['trainer.max_epochs=1']))
    assert math.isfinite(out['test/recall@20'])
    with open(tmp_path / 'history.csv') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and rows[0]['epoch'] == '0'
    assert math.isclose(float(rows[0]['val/recall@20']),
                        out['val/recall@20'], abs_tol=1e-4)
    emb = NodeEmbedding({USER: 60, ITEM: 80}, 32)
    load_pretrained(str(tmp_path / 'best.pt'), emb)
    saved = torch.load(tmp_path / 'best.pt', weights_only=True)
    assert torch.equal(emb.weight_dict[USER], saved['embedding']
                       ['weight_dict.user'])
    with pytest.raises(ValueError, match="'init_from' checkpoint"):
        load_pretrained(str(tmp_path / 'missing.pt'), emb)


def test_pretrain_then_finetune(tmp_path):
    cfg = get_cfg(tmp_path, ['+pretrain.enabled=true', 'alignment=contrastive',
                             'trainer.max_epochs=1'])
    out = run(cfg)
    assert math.isfinite(out['test/recall@20'])
    assert math.isfinite(out['pretrain/test/recall@20'])
    assert osp.isfile(tmp_path / 'pretrain' / 'best.pt')
    assert osp.isfile(tmp_path / 'metrics.json')
    # The downstream run has no alignment: no 'align' column.
    with open(tmp_path / 'history.csv') as f:
        assert 'align' not in next(csv.reader(f))
    with open(tmp_path / 'pretrain' / 'history.csv') as f:
        assert 'align' in next(csv.reader(f))

import csv
import json
import os.path as osp

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from naive_metrics import LEARN, baseline_recall, clustered
from omegaconf import OmegaConf, open_dict
from run_helpers import run

from rlmrec_pyg.train import load_checkpoint

CONF = osp.join(osp.dirname(__file__), '..', '..', 'conf')


def get_cfg(tmp_path, overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base='1.3',
                               config_dir=osp.abspath(CONF)):
        cfg = compose('train', overrides=overrides)
    GlobalHydra.instance().clear()
    with open_dict(cfg):
        cfg.output_dir = str(tmp_path)
    return cfg


RUNS = {  # Every backbone, and LightGCN with every alignment group.
    'lightgcn': [],
    'gccf': ['model=gccf'],
    'sgl': ['model=sgl', 'model.embedding_dim=8'],
    'simgcl': ['model=simgcl', 'model.embedding_dim=8'],
    'dccf': ['model=dccf', 'model.embedding_dim=8', 'model.num_intents=4'],
    'autocf': ['model=autocf', 'model.embedding_dim=8'],
    'contrastive': ['alignment=contrastive'],
    'generative': ['alignment=generative'],
    'kar': ['alignment=kar'],
}


@pytest.mark.parametrize('name', sorted(RUNS))
def test_run_learns(name, tmp_path):
    cfg = get_cfg(tmp_path, LEARN + RUNS[name])
    out = run(cfg)
    # Far better than popularity or random ranking on the same split.
    assert out['test/recall@20'] > baseline_recall(clustered()) + 0.3
    assert out['last_epoch'] == 19 and out['best_epoch'] % 5 == 0
    with open(tmp_path / 'metrics.json') as f:
        saved = json.load(f)
    assert saved['test']['recall@20'] == out['test/recall@20']
    assert saved['best_epoch'] == out['best_epoch']
    assert load_checkpoint(str(tmp_path / 'best.pt'))['state'][
        'best_epoch'] == out['best_epoch']


def test_run_with_an_alignment_of_your_own(tmp_path):
    # An alignment config written by hand (no conf/alignment file): the
    # module's defaults, its weight in the trainer's loss weights.
    cfg = get_cfg(tmp_path, LEARN + ['model=gccf'])
    with open_dict(cfg):
        cfg.alignment = OmegaConf.create({
            'module': {
                '_target_': 'rlmrec_pyg.nn.ContrastiveAlignment',
                '_partial_': True,
            },
        })
        cfg.trainer.loss_weights.align = 0.1
    out = run(cfg)
    assert out['test/recall@20'] > baseline_recall(clustered()) + 0.3
    state = load_checkpoint(str(tmp_path / 'best.pt'))['model']
    assert any(key.startswith('projector.') for key in state)
    with open(tmp_path / 'history.csv') as f:
        assert 'align' in next(csv.reader(f))  # the term was trained on

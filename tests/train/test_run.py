import json
import math
import os.path as osp

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf, open_dict

from rlmrec_pyg.train.run import run

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


@pytest.mark.parametrize('model', ['lightgcn', 'gccf'])
def test_run_fake(model, tmp_path):
    cfg = get_cfg(tmp_path, [
        'dataset=fake', f'model={model}', 'trainer.max_epochs=2',
        'trainer.eval_every=1', 'trainer.batch_size=128'
    ])
    out = run(cfg)
    assert math.isfinite(out['val/recall@20'])
    assert math.isfinite(out['test/recall@20'])
    assert 0 <= out['test/ndcg@20'] <= 1 and out['last_epoch'] == 1
    with open(tmp_path / 'metrics.json') as f:
        saved = json.load(f)
    assert saved['test']['recall@20'] == out['test/recall@20']
    assert osp.exists(tmp_path / 'best.pt')


def test_run_with_alignment(tmp_path):
    cfg = get_cfg(tmp_path, [
        'dataset=fake', 'model=gccf', 'trainer.max_epochs=1',
        'trainer.batch_size=256'
    ])
    with open_dict(cfg):
        cfg.alignment = OmegaConf.create({
            'module': {
                '_target_': 'rlmrec_pyg.nn.ContrastiveAlignment',
                '_partial_': True,
            },
            'weight': 0.1,
        })
    out = run(cfg)
    assert math.isfinite(out['test/recall@20'])

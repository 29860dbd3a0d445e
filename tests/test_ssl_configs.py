import glob
import os.path as osp

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from naive_metrics import LEARN, baseline_recall, clustered
from omegaconf import open_dict

from rlmrec_pyg.nn import (DCCF, SGL, AutoCF, ContrastiveAlignment,
                           MaskedGenerativeAlignment, SimGCL)
from rlmrec_pyg.train.run import run

CONF = osp.abspath(osp.join(osp.dirname(__file__), '..', 'conf'))
CLASSES = dict(sgl=SGL, simgcl=SimGCL, dccf=DCCF, autocf=AutoCF)
PAPER = sorted(
    osp.basename(p)[:-5]
    for p in glob.glob(osp.join(CONF, 'experiment', '*.yaml'))
    if osp.basename(p).split('_')[0] in CLASSES)
# Spot checks against spec §8 (model kwargs, lambda_reg, alignment weight).
SPEC = {
    'sgl_base_steam': (dict(num_layers=3, temperature=0.5), 1e-5, None),
    'sgl_base_yelp': (dict(ssl_weight=1e-3, temperature=0.1), 1e-6, None),
    'simgcl_generative_yelp': (dict(eps=0.9), 1e-5, 0.01),
    'dccf_base_steam': (dict(num_layers=3, ssl_weight=1e-3), 1e-3, None),
    'dccf_contrastive_yelp': (dict(num_layers=2), 1e-4, 1e-2),
    'autocf_base_yelp': (dict(num_layers=3, ssl_weight=2.0), 1e-7, None),
    'autocf_contrastive_amazon': (dict(ssl_weight=1.0), 1e-6, 0.1),
}


def get_cfg(overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base='1.3', config_dir=CONF):
        cfg = compose('train', overrides=overrides)
    GlobalHydra.instance().clear()
    return cfg


def test_every_ssl_row_has_a_config():
    assert len(PAPER) == 36  # 4 backbones x {base, con, gen} x 3 datasets


@pytest.mark.parametrize('name', PAPER)
def test_ssl_experiment_builds(name):
    backbone, variant, dataset = name.split('_')
    cfg = get_cfg([f'experiment={name}'])
    assert cfg.dataset.name == dataset
    encoder = instantiate(cfg.model)
    assert isinstance(encoder, CLASSES[backbone])
    kwargs, reg, weight = SPEC.get(name, ({}, None, None))
    for key, value in kwargs.items():
        assert getattr(encoder, key) == value, key
    if reg is not None:
        assert cfg.trainer.lambda_reg == reg
    if variant == 'base':
        assert cfg.get('alignment') is None
        return
    wrapper = instantiate(cfg.alignment.module)
    kwargs = dict(sem_channels=1536, out_channels=encoder.out_channels)
    if variant == 'generative':
        kwargs['in_channels'] = cfg.model.embedding_dim
    model = wrapper(encoder, **kwargs)
    cls = dict(contrastive=ContrastiveAlignment,
               generative=MaskedGenerativeAlignment)[variant]
    assert isinstance(model, cls) and hasattr(model, 'ssl_loss')
    assert cfg.alignment.weight == (weight or cfg.alignment.weight) > 0


@pytest.mark.parametrize('backbone', sorted(CLASSES))
def test_ssl_backbone_run_learns(backbone, tmp_path):
    cfg = get_cfg(LEARN + [f'model={backbone}', 'model.embedding_dim=8'] +
                  (['model.num_intents=4'] if backbone == 'dccf' else []))
    with open_dict(cfg):
        cfg.output_dir = str(tmp_path)
    out = run(cfg)
    assert out['test/recall@20'] > baseline_recall(clustered()) + 0.3

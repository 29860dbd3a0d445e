import glob
import os.path as osp

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from naive_metrics import LEARN, baseline_recall, clustered
from omegaconf import open_dict

from rlmrec_pyg.nn import (
    GCCF,
    ContrastiveAlignment,
    LightGCN,
    MaskedGenerativeAlignment,
)
from rlmrec_pyg.train.run import run

CONF = osp.abspath(osp.join(osp.dirname(__file__), '..', 'conf'))
PAPER = sorted(
    osp.basename(p)[:-5]
    for p in glob.glob(osp.join(CONF, 'experiment', '*.yaml'))
    if osp.basename(p).split('_')[0] in ('lightgcn', 'gccf'))


def get_cfg(overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base='1.3', config_dir=CONF):
        cfg = compose('train', overrides=overrides)
    GlobalHydra.instance().clear()
    return cfg


def test_every_paper_row_has_a_config():
    assert len(PAPER) == 18  # {lightgcn, gccf} x {base, con, gen} x 3 data


@pytest.mark.parametrize('name', PAPER)
def test_paper_experiment_builds(name):
    backbone, variant, dataset = name.split('_')
    cfg = get_cfg([f'experiment={name}'])
    assert cfg.dataset.name == dataset
    encoder = instantiate(cfg.model)
    assert isinstance(encoder, {'lightgcn': LightGCN, 'gccf': GCCF}[backbone])
    if backbone == 'gccf':  # self-loops only in the plain gccf (§10 #6)
        assert cfg.model.self_loops == (variant == 'base')
    if variant == 'base':
        assert cfg.get('alignment') is None
        return
    wrapper = instantiate(cfg.alignment.module)
    kwargs = dict(sem_channels=1536, out_channels=encoder.out_channels)
    if variant == 'generative':
        kwargs['in_channels'] = cfg.model.embedding_dim
    model = wrapper(encoder, **kwargs)
    cls = {'contrastive': ContrastiveAlignment,
           'generative': MaskedGenerativeAlignment}[variant]
    assert isinstance(model, cls) and cfg.alignment.weight > 0
    # GCCF's concatenated readout: the projector matches its width.
    width = 96 if backbone == 'gccf' else 32
    assert model.out_channels == width
    if variant == 'contrastive':
        assert model.negatives == {'user': 'all', 'item': 'in_batch'}
        assert model.projector.hidden_channels == (1536 + width) // 2


@pytest.mark.parametrize('alignment', ['contrastive', 'generative', 'kar'])
def test_alignment_group_run_learns(alignment, tmp_path):
    cfg = get_cfg(LEARN + [f'alignment={alignment}'])
    with open_dict(cfg):
        cfg.output_dir = str(tmp_path)
    out = run(cfg)
    assert out['test/recall@20'] > baseline_recall(clustered()) + 0.3

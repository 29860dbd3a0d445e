import csv
import glob
import importlib.util
import inspect
import json
import math
import os.path as osp

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import MissingConfigException
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from run_helpers import build_encoder, run, trainer_kwargs

from rlmrec_pyg.nn import Recommender, TrainBatch
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.train import Trainer
from rlmrec_pyg.train.checkpoint import load_checkpoint
from rlmrec_pyg.typing import EDGE

CONF = osp.abspath(osp.join(osp.dirname(__file__), '..', 'conf'))


def names(group):
    return sorted(
        osp.relpath(p, osp.join(CONF, group))[:-5]
        for p in glob.glob(osp.join(CONF, group, '*.yaml')))


def get_cfg(overrides, config_name='train', hydra_cfg=False):
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base='1.3', config_dir=CONF):
        cfg = compose(config_name, overrides=overrides,
                      return_hydra_config=hydra_cfg)
    GlobalHydra.instance().clear()
    return cfg


def loss_terms(cfg):
    # The terms of one training step (the first: AutoCF samples its graphs)
    # of the model cfg builds, on a small graph with semantic vectors.
    data = get_random_rec_data(with_text=False)
    torch.manual_seed(0)
    model = Recommender(build_encoder(cfg, data), data,
                        int(cfg.model.embedding_dim))
    user, pos = data[EDGE].edge_index[:, :8]
    batch = TrainBatch(user, pos, pos.flip(0), data,
                       torch.Generator().manual_seed(0))
    return model.loss_terms(batch, cfg.trainer.reg)


def weights_of(cfg):
    # The merged loss weights of the trainer a run of cfg builds.
    with open_dict(cfg):
        cfg.output_dir = 'unused'
    return Trainer(**trainer_kwargs(cfg)).loss_weights


def check_targets(node):
    # Every `_target_` below `node` is importable and accepts its kwargs.
    if not isinstance(node, DictConfig):
        return
    if '_target_' in node:
        obj = get_object(node._target_)
        kwargs = {
            k: None
            for k in node if not str(k).startswith('_')
        }
        inspect.signature(obj).bind_partial(**kwargs)
    for key in node:
        if OmegaConf.is_dict(node._get_node(key)):
            check_targets(node[key])


def test_every_group_has_its_files():
    for group in ('dataset', 'model', 'alignment', 'semantic', 'profiles',
                  'optimizer', 'trainer', 'paths', 'debug', 'experiment',
                  'hparams_search', 'hydra'):
        assert glob.glob(osp.join(CONF, group, '**', '*.yaml'),
                         recursive=True), group
    assert set(names('dataset')) >= {
        'amazon', 'yelp', 'steam', 'movielens', 'csv', 'fake'
    }


@pytest.mark.parametrize('name', names('dataset'))
def test_dataset_config(name, tmp_path):
    cfg = get_cfg([f'dataset={name}', f'paths.data_dir={tmp_path}'])
    check_targets(cfg.dataset)
    if name == 'synthetic':  # built in memory: a small one
        data = instantiate(cfg.dataset, num_users=300, num_items=200,
                           num_interactions=3000)
        assert data['item'].sem_emb.shape == (200, cfg.dataset.sem_channels)
    elif name in ('fake', 'clustered'):  # synthetic: built in memory
        data = instantiate(cfg.dataset)
        assert data['user'].num_nodes == cfg.dataset.num_users
    elif name == 'csv':
        path = tmp_path / 'ratings.csv'
        path.write_text('user,item\n' + ''.join(
            f'u{u},i{(u * 7 + k) % 9}\n' for u in range(6) for k in range(5)))
        data = instantiate(cfg.dataset, interactions=str(path))[0]
        assert data['user'].num_nodes == 6
    else:  # real data: the target and its arguments, no download
        assert str(cfg.dataset.root).startswith(str(tmp_path))


@pytest.mark.parametrize('name', names('model'))
def test_model_config(name):
    # Catches: a model config whose loss terms miss their default weight
    # (the first step would stop) or that sets a weight no term uses.
    # Also: a model whose output is not a multiple of the ID embeddings'
    # width, a partial config (a to_hetero GNN) not given the metadata.
    cfg = get_cfg([f'model={name}'])
    check_targets(cfg.model)
    data = get_random_rec_data(with_text=False)
    encoder = build_encoder(cfg, data)
    model = Recommender(encoder, data, int(cfg.model.embedding_dim))
    with torch.no_grad():
        z = model(data)
    assert z['user'].size(-1) % cfg.model.embedding_dim == 0
    assert not hasattr(encoder, 'ssl_weight')  # the trainer weighs 'ssl'
    assert sorted(loss_terms(cfg)) == sorted(weights_of(cfg))


def changes_of(overrides):
    # The keys whose values `overrides` change in the composed run config.
    base = OmegaConf.to_container(get_cfg([]))
    cfg = OmegaConf.to_container(get_cfg(overrides))

    def diff(a, b, where):
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b), key=str):
                yield from diff(a.get(key), b.get(key), where + (key, ))
        elif a != b:
            yield '.'.join(map(str, where))

    return sorted(diff(base, cfg, ()))


# What selecting an alignment may change in the run config (the alignment
# configs are `# @package _global_`: they also set the default weight of
# their 'align' term, and nothing else).
ALIGNMENT_CHANGES = {
    'contrastive': ['alignment', 'trainer.loss_weights.align'],
    'generative': ['alignment', 'trainer.loss_weights.align'],
    'kar': ['alignment'],
    'semantic_only': ['alignment'],
    'none': ['alignment'],  # null -> {} (both: no alignment)
}


@pytest.mark.parametrize('name', names('alignment'))
def test_alignment_config(name):
    # Catches: an alignment config that drops its 'align' weight (the first
    # step would stop), keeps a stale `alignment.weight`, changes another
    # group's value, or whose wrapper cannot infer its sizes from the data.
    assert changes_of([f'alignment={name}']) == ALIGNMENT_CHANGES[name]
    cfg = get_cfg([f'alignment={name}'])
    if name == 'none':  # the plain backbone
        assert not cfg.alignment and 'align' not in weights_of(cfg)
        return
    check_targets(cfg.alignment)
    assert list(cfg.alignment) == ['module']
    assert cfg.alignment.module._partial_ is True  # run(cfg) adds the encoder
    terms = loss_terms(cfg)
    weights = weights_of(cfg)
    assert sorted(terms) == sorted(weights)
    if 'align' in terms:
        assert weights['align'] > 0
    wrapper = build_encoder(cfg, get_random_rec_data(with_text=False))
    assert type(wrapper) is get_object(cfg.alignment.module._target_)


@pytest.mark.parametrize('group', ['semantic', 'profiles'])
def test_text_configs(group, monkeypatch):
    secret = 'sk-' + 'CONFIG-SENTINEL-2b7e41'  # a made-up sentinel
    monkeypatch.setenv('OPENAI_API_KEY', secret)
    for name in names(group):
        cfg = get_cfg([f'+{group}={name}'] if group == 'profiles' else
                      [f'{group}={name}'] + (['semantic.path=stores']
                                             if name == 'stored' else []))
        check_targets(cfg[group])
        # Secrets stay interpolations in the composed (saved) config.
        yaml = OmegaConf.to_yaml(cfg)
        assert secret not in yaml
        # Built from the resolved key, the object never shows it.
        obj = instantiate(cfg[group])
        assert type(obj) is get_object(cfg[group]._target_), name
        assert secret not in repr(obj) + str(obj), name


def test_optimizer_trainer_paths_configs(tmp_path):
    for opt in names('optimizer'):
        cfg = get_cfg([f'optimizer={opt}'])
        param = torch.nn.Parameter(torch.zeros(2))
        optimizer = instantiate(cfg.optimizer)([param])
        assert isinstance(optimizer, torch.optim.Optimizer)
    for trainer in names('trainer'):
        cfg = get_cfg([f'trainer={trainer}'])
        Trainer(**OmegaConf.to_container(cfg.trainer, resolve=True))
    cfg = get_cfg(['paths=default'], hydra_cfg=True)
    assert cfg.hydra.run.dir.startswith(cfg.paths.output_dir)
    cfg = get_cfg([], config_name='vectors')
    check_targets(cfg)


def test_launcher_configs():
    # CI installs the `hydra` and `cluster` extras: a missing or misnamed
    # config (here or in the plugin) fails instead of skipping. The Ray
    # plugin (the `ray` extra, which brings Ray) is checked where installed.
    plugins = 'hydra_plugins.hydra_{0}_launcher.{0}_launcher.'.format
    expected = {
        'parallel': plugins('joblib') + 'JoblibLauncher',
        'slurm': plugins('submitit') + 'SlurmLauncher',
        'slurm_local': plugins('submitit') + 'LocalLauncher',
        'ray_cluster': plugins('ray') + 'RayLauncher',
    }
    assert sorted(names('hydra/launcher')) == sorted(expected)
    for name, target in expected.items():
        if name != 'ray_cluster' or importlib.util.find_spec(
                'hydra_plugins.hydra_ray_launcher') is not None:
            cfg = get_cfg([f'hydra/launcher={name}'], hydra_cfg=True)
            assert get_object(cfg.hydra.launcher._target_) is get_object(
                target), name


def test_sweeper_configs():
    pytest.importorskip('hydra_plugins.hydra_optuna_sweeper')
    assert names('hparams_search')
    for name in names('hparams_search'):
        cfg = get_cfg([f'hparams_search={name}', 'alignment=contrastive'],
                      hydra_cfg=True)
        assert get_object(cfg.hydra.sweeper._target_) is get_object(
            'hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper')
        params = cfg.hydra.sweeper.params
        assert 'trainer.loss_weights.align' in params
        assert 'alignment.module.temperature' in params
        # Every swept key exists in the run config (a renamed key would be
        # added beside the real one and tune nothing).
        for key in params:
            assert OmegaConf.select(cfg, key) is not None, key


def test_bad_overrides_fail_at_compose():
    # Before anything runs: Hydra's one sentence naming the group and value.
    with pytest.raises(MissingConfigException,
                       match="Could not find 'dataset/amazn'"):
        get_cfg(['dataset=amazn'])
    with pytest.raises(MissingConfigException,
                       match="Could not find 'model/lightgnc'"):
        get_cfg(['model=lightgnc'])


# Top-level names an alignment wrapper adds to the model's state dict, next
# to its `encoder.*` (a plain backbone's state has none of them).
WRAPPER_KEYS = {
    'rlmrec_pyg.nn.ContrastiveAlignment': {'projector'},
    'rlmrec_pyg.nn.MaskedGenerativeAlignment': {'projector', 'mask_token'},
    'rlmrec_pyg.nn.SemanticRanker': set(),  # no parameters at all
}
# The wrapper a Table 1 experiment <backbone>_<variant>_<dataset> names.
VARIANTS = {
    'base': None,
    'contrastive': 'rlmrec_pyg.nn.ContrastiveAlignment',
    'generative': 'rlmrec_pyg.nn.MaskedGenerativeAlignment',
}


def wrapper_of(name, cfg):
    parts = name.split('_')
    if len(parts) == 3 and parts[1] in VARIANTS:
        return VARIANTS[parts[1]]
    return cfg.alignment.module._target_ if cfg.get('alignment') else None


def check_run_folder(folder, metrics, wrapper):
    # metrics.json: the returned metrics, saved as they were returned.
    with open(osp.join(folder, 'metrics.json')) as f:
        saved = json.load(f)
    assert set(saved) == {'val', 'test'} | {
        key for key in metrics if '/' not in key
    }
    for key, value in metrics.items():
        split, _, metric = key.rpartition('/')
        assert (saved[split][metric] if split else saved[key]) == value, key
    assert all(f'{split}/{metric}' in metrics
               for split in ('val', 'test') for metric in saved[split])
    # best.pt: the state of the model this experiment trains.
    top = {key.split('.')[0] for key in load_checkpoint(
        osp.join(folder, 'best.pt'))['model']}
    if wrapper:
        assert top - {'encoder'} == WRAPPER_KEYS[wrapper]
    else:
        assert top.isdisjoint({'encoder', 'projector', 'mask_token'}), top
    # history.csv: the validation after epoch 0, the one that selected.
    with open(osp.join(folder, 'history.csv'), newline='') as f:
        rows = list(csv.DictReader(f))
    assert [row['epoch'] for row in rows] == ['0']
    assert rows[0]['improved'] == '1'
    assert abs(float(rows[0]['val/recall@20']) -
               metrics['val/recall@20']) <= 5e-5  # logged with 4 decimals
    assert metrics['best_epoch'] == metrics['last_epoch'] == 0


@pytest.mark.parametrize('name', names('experiment'))
def test_experiment_runs_one_epoch(name, tmp_path):
    # The one test that runs every experiment (one epoch, fake graph).
    # Catches: metrics.json out of step with the returned metrics, a
    # checkpoint without the experiment's wrapper (or with one on a Base
    # row), a history that lost or misnumbered the validation of epoch 0.
    cfg = get_cfg([f'experiment={name}', 'debug=fast'])
    with open_dict(cfg):
        cfg.output_dir = str(tmp_path)
        cfg.time_window = None  # the fake graph has no timestamps
        if cfg.get('pretrain'):
            cfg.pretrain.time_window = None
    check_targets(cfg)
    out = run(cfg)
    assert math.isfinite(out['test/recall@20'])
    if cfg.get('pretrain') and cfg.pretrain.enabled:
        # Pre-trained with the alignment, then fine-tuned without it.
        pre = {
            key[len('pretrain/'):]: value
            for key, value in out.items() if key.startswith('pretrain/')
        }
        check_run_folder(tmp_path / 'pretrain', pre, wrapper_of(name, cfg))
        out = {k: v for k, v in out.items() if not k.startswith('pretrain/')}
        check_run_folder(tmp_path, out, None)
    else:
        check_run_folder(tmp_path, out, wrapper_of(name, cfg))


def test_every_target_in_the_configs_imports():
    # Catches: a config naming a class or function that moved (a sweep
    # would fail only when Hydra instantiates it, e.g. a callback).
    import importlib
    import re
    found = set()
    for path in glob.glob(osp.join(CONF, '**', '*.yaml'), recursive=True):
        with open(path) as f:
            found |= set(re.findall(r'_target_:\s*([\w.]+)', f.read()))
    assert 'rlmrec_pyg.cli.report.ReportCallback' in found
    for target in sorted(found):
        module, _, name = target.rpartition('.')
        if module.startswith(('hydra_plugins', 'hydra.')):
            continue  # Hydra's own plugins, installed with the extras
        assert hasattr(importlib.import_module(module), name), target

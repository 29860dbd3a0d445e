r"""The 54 Table 1 experiments of the paper, pinned value by value.

Each ``conf/experiment/<backbone>_<variant>_<dataset>.yaml`` must compose to
the hyper-parameters of the official configuration file of that row, and
the modules built from it must carry them. The official files are
``encoder/config/modelconf/<backbone>.yml`` (Base), ``<backbone>_plus.yml``
(Con) and ``<backbone>_gene.yml`` (Gen), *e.g.*, ``lightgcn_plus.yml``, of
HKUDS/RLMRec at commit 22413752; shared values are those of all 18 ymls.
The table below is transcribed by hand from those files; nothing in it is
computed from the configs.
"""
import copy
import glob
import os.path as osp
import re
from collections import namedtuple
from functools import lru_cache

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import get_object
from omegaconf import OmegaConf, open_dict
from run_helpers import build_encoder, check_run_config

from rlmrec_pyg.nn import (
    DCCF,
    GCCF,
    SGL,
    AutoCF,
    ContrastiveAlignment,
    LightGCN,
    MaskedGenerativeAlignment,
    NodeEmbedding,
    Recommender,
    SimGCL,
    TrainBatch,
)
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.typing import EDGE

CONF = osp.abspath(osp.join(osp.dirname(__file__), '..', 'conf'))
# A Table 1 experiment file: <backbone>_<variant>_<dataset>.yaml.
PATTERN = re.compile(r'^[a-z0-9]+_(base|contrastive|generative)_[a-z0-9]+$')
SEM_CHANNELS = 1536  # text-embedding-ada-002

Row = namedtuple('Row', 'name layers reg cl tau eps weight tau_a mask')
# One line per experiment; '-': the official yml has no such key. Columns
# (official yml key -> config key):
#   L      layer_num (AutoCF: gcn_layer)       -> model.num_layers
#   reg    reg_weight                          -> trainer.loss_weights.reg
#   cl     cl_weight (AutoCF: ssl_reg)         -> trainer.loss_weights.ssl
#   tau    temperature (cl_temperature in the plus/gene ymls)
#                                              -> model.temperature
#   eps    eps                                 -> model.eps
#   w      kd_weight (Con) / recon_weight (Gen)
#                                              -> trainer.loss_weights.align
#   tau_a  kd_temperature / re_temperature     -> alignment.module.temperature
#   mask   mask_ratio                          -> alignment.module.mask_ratio
# sgl.yml sets layer_num 2 for steam, but sgl.py loops over the top-level
# layer_num 3: the SGL Base row on steam ran 3 layers, hence 3 below.
TABLE1 = """
experiment                   L  reg   cl    tau  eps  w     tau_a  mask
gccf_base_amazon             2  1e-6  -     -    -    -     -      -
gccf_base_yelp               2  1e-6  -     -    -    -     -      -
gccf_base_steam              2  1e-6  -     -    -    -     -      -
gccf_contrastive_amazon      2  1e-6  -     -    -    1e-3  0.1    -
gccf_contrastive_yelp        2  1e-6  -     -    -    1e-3  0.2    -
gccf_contrastive_steam       2  1e-6  -     -    -    1e-2  0.5    -
gccf_generative_amazon       2  1e-7  -     -    -    0.01  0.1    0.1
gccf_generative_yelp         2  1e-6  -     -    -    0.01  1.0    0.05
gccf_generative_steam        2  1e-6  -     -    -    0.01  0.1    0.1
lightgcn_base_amazon         3  1e-6  -     -    -    -     -      -
lightgcn_base_yelp           3  1e-6  -     -    -    -     -      -
lightgcn_base_steam          2  1e-6  -     -    -    -     -      -
lightgcn_contrastive_amazon  3  1e-7  -     -    -    1e-2  0.2    -
lightgcn_contrastive_yelp    3  1e-7  -     -    -    1e-2  0.2    -
lightgcn_contrastive_steam   3  1e-8  -     -    -    1e-3  0.1    -
lightgcn_generative_amazon   2  1e-7  -     -    -    0.1   0.5    0.15
lightgcn_generative_yelp     2  1e-7  -     -    -    0.01  0.1    0.05
lightgcn_generative_steam    2  1e-6  -     -    -    0.1   0.5    0.15
sgl_base_amazon              3  1e-5  0.1   0.2  -    -     -      -
sgl_base_yelp                3  1e-6  1e-3  0.1  -    -     -      -
sgl_base_steam               3  1e-5  0.1   0.5  -    -     -      -
sgl_contrastive_amazon       3  1e-5  0.1   0.2  -    1e-2  0.5    -
sgl_contrastive_yelp         3  1e-5  0.1   0.2  -    1e-2  1.0    -
sgl_contrastive_steam        3  1e-5  0.1   0.5  -    1e-2  1.0    -
sgl_generative_amazon        3  1e-5  0.1   0.2  -    0.1   0.2    0.2
sgl_generative_yelp          3  1e-5  0.1   0.2  -    0.1   0.2    0.15
sgl_generative_steam         3  1e-5  0.1   0.5  -    0.1   0.2    0.1
simgcl_base_amazon           3  1e-5  0.1   0.2  0.9  -     -      -
simgcl_base_yelp             3  1e-5  0.1   0.2  0.9  -     -      -
simgcl_base_steam            3  1e-5  0.1   0.5  0.2  -     -      -
simgcl_contrastive_amazon    3  1e-5  0.1   0.2  0.9  1e-2  0.2    -
simgcl_contrastive_yelp      3  1e-5  0.1   0.2  0.9  1e-2  0.1    -
simgcl_contrastive_steam     3  1e-5  0.1   0.5  0.2  1e-2  0.2    -
simgcl_generative_amazon     3  1e-5  0.1   0.2  0.9  0.1   0.2    0.05
simgcl_generative_yelp       3  1e-5  0.1   0.2  0.9  0.01  0.05   0.01
simgcl_generative_steam      3  1e-5  0.1   0.5  0.2  0.01  0.1    0.05
dccf_base_amazon             2  1e-4  1e-3  0.1  -    -     -      -
dccf_base_yelp               2  1e-4  1e-3  0.1  -    -     -      -
dccf_base_steam              3  1e-3  1e-3  0.1  -    -     -      -
dccf_contrastive_amazon      2  1e-4  1e-3  0.1  -    1e-2  0.5    -
dccf_contrastive_yelp        2  1e-4  1e-3  0.1  -    1e-2  0.2    -
dccf_contrastive_steam       3  1e-3  1e-3  0.1  -    1e-2  0.5    -
dccf_generative_amazon       2  1e-4  1e-3  0.1  -    0.1   0.2    0.05
dccf_generative_yelp         2  1e-4  1e-3  0.1  -    0.01  0.1    0.05
dccf_generative_steam        3  1e-3  1e-3  0.1  -    0.01  0.2    0.1
autocf_base_amazon           2  1e-6  5.0   -    -    -     -      -
autocf_base_yelp             3  1e-7  2.0   -    -    -     -      -
autocf_base_steam            2  1e-6  0.5   -    -    -     -      -
autocf_contrastive_amazon    2  1e-6  1.0   -    -    0.1   0.5    -
autocf_contrastive_yelp      2  1e-8  1.0   -    -    1e-2  0.1    -
autocf_contrastive_steam     2  1e-6  0.5   -    -    1e-2  0.2    -
autocf_generative_amazon     2  1e-6  1.0   -    -    1.0   0.5    0.2
autocf_generative_yelp       2  1e-8  1.0   -    -    0.1   0.1    0.2
autocf_generative_steam      2  1e-6  0.5   -    -    1.0   0.2    0.2
"""


def parse_table(text):
    rows = []
    for line in text.strip().splitlines()[1:]:
        name, layers, *values = line.split()
        rows.append(Row(name, int(layers),
                        *(None if v == '-' else float(v) for v in values)))
    return rows


ROWS = parse_table(TABLE1)

# The class and the dataset-independent (top-level) keys of each backbone's
# ymls, under the constructor's names. keep_rate 0.8 of lightgcn/sgl =
# edge_drop_rate 0.2; simgcl's keep_rate 1.0 = no edge drop, fixed by
# SimGCL itself (not a config key); AutoCF's keep_rate 0.2 is the decoder's
# pair pool (sample_ratio), head_num = heads, seed_num = num_seeds,
# fix_steps = resample_every; its evaluation decoder has no self-loops.
# DCCF divides its item CL terms by the number of unique users.
# No backbone carries its SSL weight: the trainer's loss_weights do.
BACKBONES = {
    'gccf': (GCCF, {}),
    'lightgcn': (LightGCN, dict(edge_drop_rate=0.2)),
    'sgl': (SGL, dict(edge_drop_rate=0.2)),
    'simgcl': (SimGCL, {}),
    'dccf': (DCCF, dict(num_intents=128, item_norm='users')),
    'autocf': (AutoCF,
               dict(num_gt_layers=1, heads=4, num_seeds=100, mask_depth=2,
                    sample_ratio=0.2, resample_every=10,
                    eval_self_loops=False)),
}
# The official data handler adds self-loops only for the model named
# 'gccf', so gccf_plus and gccf_gene propagate without them.
SELF_LOOPS = {'base': True, 'contrastive': False, 'generative': False}
# Width of the readout: (layer_num + 1) * 32 for GCCF's concatenation.
OUT_CHANNELS = {'gccf': 96}
# The projector's hidden width: floor((1536 + 32) / 2) = 784; with GCCF's
# 96: floor((1536 + 96) / 2) = 816.
HIDDEN = {'gccf': 816}
# Shared by all 18 ymls: Adam (lr 1e-3, no weight decay), batch 4096,
# at most 3000 epochs, test_step 3, patience 5, K = 5, 10, 20 (Recall@20
# selects), test batch 1024 users, seed 2023, embedding_size 32, L2 over all
# parameters, validation items not masked at test.
SHARED = dict(
    trainer=dict(max_epochs=3000, batch_size=4096, eval_every=3, patience=5,
                 ks=[5, 10, 20], eval_batch_size=1024, reg='all',
                 mask_val=False, find_unused_parameters=False,
                 num_neighbors=None),  # one process, the whole graph
    optimizer=dict(lr=1e-3, weight_decay=0.0),  # torch.optim.Adam
    seed=2023,
    embedding_dim=32,
)
# Loss weights fixed by the official losses: BPR (AutoCF: its own loss) at
# 1; AutoCF's user-item term and its local-graph infomax term enter the
# official loss unweighted (only ssl_reg scales the uniformity terms).
FIXED_WEIGHTS = dict(rec=1.0)
AUTOCF_WEIGHTS = dict(ssl_cross=1.0, infomax=1.0)
# Con (*_plus.py): users against all users' projections, items against the
# batch's; Gen (*_gene.py): InfoNCE among the masked nodes (ssl_con_loss).
ALIGNMENTS = {
    'contrastive': (ContrastiveAlignment,
                    dict(negatives={'user': 'all', 'item': 'in_batch'})),
    'generative': (MaskedGenerativeAlignment,
                   dict(reconstruction='info_nce')),
}
# Keys that tune speed, logging or the sparse layout, not the results.
NOT_HYPERPARAMETERS = ('_target_', '_partial_', 'backend', 'bf16', 'fused',
                       'progress_bar')


def experiment_files():
    return sorted(
        osp.basename(path)[:-5]
        for path in glob.glob(osp.join(CONF, 'experiment', '*.yaml'))
        if PATTERN.match(osp.basename(path)[:-5]))


@lru_cache(maxsize=None)
def get_cfg(name):
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base='1.3', config_dir=CONF):
        cfg = compose('train', overrides=[f'experiment={name}'])
    GlobalHydra.instance().clear()
    OmegaConf.set_readonly(cfg, True)  # shared by the tests of one row
    return cfg


def same(value, expected):
    # Equal and a number where a number is expected (1e-6, not '1e-6'),
    # key by key for a mapping.
    if isinstance(expected, dict):
        return (isinstance(value, dict) and sorted(value) == sorted(expected)
                and all(same(value[k], v) for k, v in expected.items()))
    if isinstance(expected, float):
        return (isinstance(value, (int, float))
                and not isinstance(value, bool) and value == expected)
    return type(value) is type(expected) and value == expected


def check_same(node, expected, where):
    # `node` holds exactly the `expected` hyper-parameters, no more.
    got = {
        k: v
        for k, v in OmegaConf.to_container(node).items()
        if k not in NOT_HYPERPARAMETERS
    }
    assert sorted(got) == sorted(expected), where
    for key, value in expected.items():
        assert same(got[key], value), (f'{where}.{key} is {got[key]!r}, '
                                       f'the paper has {value!r}')


def expected_model(row):
    backbone, variant, _ = row.name.split('_')
    expected = dict(embedding_dim=SHARED['embedding_dim'],
                    num_layers=row.layers, **BACKBONES[backbone][1])
    if backbone == 'gccf':
        expected['self_loops'] = SELF_LOOPS[variant]
    for key, value in (('temperature', row.tau), ('eps', row.eps)):
        if value is not None:
            expected[key] = value
    return expected


def expected_weights(row):
    # trainer.loss_weights: exactly the terms this row's model returns.
    backbone = row.name.split('_')[0]
    expected = dict(FIXED_WEIGHTS, reg=row.reg)
    for key, value in (('ssl', row.cl), ('align', row.weight)):
        if value is not None:
            expected[key] = value
    if backbone == 'autocf':
        expected.update(AUTOCF_WEIGHTS)
    return expected


def expected_module(row):
    variant = row.name.split('_')[1]
    expected = dict(temperature=row.tau_a, **ALIGNMENTS[variant][1])
    if variant == 'generative':
        expected['mask_ratio'] = row.mask
        expected['max_masked'] = None  # the paper masks floor(N * ratio)
    if variant == 'contrastive':
        expected['max_candidates'] = None  # the paper's whole batch
    return expected


def test_every_experiment_has_its_row():
    # Catches: a Table 1 yaml added, renamed or deleted without its row.
    names = [row.name for row in ROWS]
    assert len(names) == len(set(names)) == 6 * 3 * 3
    assert {tuple(name.split('_')) for name in names} == {
        (backbone, variant, dataset)
        for backbone in BACKBONES
        for variant in ('base', 'contrastive', 'generative')
        for dataset in ('amazon', 'yelp', 'steam')
    }
    assert experiment_files() == sorted(names)


@pytest.mark.parametrize('row', ROWS, ids=lambda row: row.name)
def test_experiment_composes_to_the_paper(row):
    # Catches: a value dropped from, changed in or added to an experiment
    # yaml, or a group default (model, alignment, trainer, optimizer) that
    # changed under it.
    backbone, variant, dataset = row.name.split('_')
    cfg = get_cfg(row.name)
    assert cfg.dataset._target_ == 'rlmrec_pyg.data.RLMRecDataset'
    assert cfg.dataset.name == dataset
    assert get_object(cfg.model._target_) is BACKBONES[backbone][0]
    check_same(cfg.model, expected_model(row), 'model')
    check_same(cfg.trainer,
               dict(SHARED['trainer'], loss_weights=expected_weights(row),
                    max_time=None), 'trainer')
    assert get_object(cfg.optimizer._target_) is torch.optim.Adam
    check_same(cfg.optimizer, SHARED['optimizer'], 'optimizer')
    assert same(cfg.seed, SHARED['seed'])
    # The official split and ada-002 vectors, untouched by the studies.
    assert cfg.get('semantic') is None
    assert (cfg.noise_ratio, cfg.shuffle_semantic, cfg.time_window,
            cfg.pretrain, cfg.init_from) == (0.0, False, None, None, None)
    if variant == 'base':
        assert not cfg.get('alignment')
        return
    # The weight lives in trainer.loss_weights.align (checked above): a
    # stale alignment.weight would be silently ignored.
    assert list(cfg.alignment) == ['module'], list(cfg.alignment)
    module = cfg.alignment.module
    assert get_object(module._target_) is ALIGNMENTS[variant][0]
    assert module._partial_ is True
    check_same(module, expected_module(row), 'alignment.module')


@lru_cache(maxsize=None)
def small_data():
    # A small graph with ada-002-wide vectors: the sizes the wrappers infer.
    return get_random_rec_data(sem_channels=SEM_CHANNELS, with_text=False)


def build_model(cfg, data):
    # As run(cfg): ID embeddings first, then the (wrapped) encoder, sized by
    # the Recommender from the graph.
    sizes = {nt: int(data[nt].num_nodes) for nt in data.node_types}
    embedding = NodeEmbedding(sizes, int(cfg.model.embedding_dim))
    return Recommender(build_encoder(cfg, data), data, embedding=embedding)


@pytest.mark.parametrize('row', ROWS, ids=lambda row: row.name)
def test_experiment_builds_the_paper_modules(row, tmp_path):
    # Catches: a constructor or the run's wiring (check_run_config,
    # trainer_kwargs, build_encoder, the Recommender's size inference) that
    # drops or renames a value on its way to the module or the trainer's
    # loss weights, and a term the model returns without a weight (or a
    # weight no term uses).
    backbone, variant, _ = row.name.split('_')
    cfg = copy.deepcopy(get_cfg(row.name))
    OmegaConf.set_readonly(cfg, False)
    with open_dict(cfg):
        cfg.output_dir = str(tmp_path)
    trainer = check_run_config(cfg)
    assert same(trainer.loss_weights, expected_weights(row)), \
        trainer.loss_weights
    assert (trainer.batch_size, trainer.eval_every, trainer.patience,
            trainer.max_epochs, trainer.seed) == (4096, 3, 5, 3000, 2023)
    assert tuple(trainer.ks) == (5, 10, 20)  # Recall@20 selects
    assert trainer.reg == 'all' and trainer.mask_val is False

    data = small_data()
    torch.manual_seed(0)
    model = build_model(cfg, data)
    assert model.embedding.embedding_dim == 32
    wrapper = encoder = model.encoder
    if variant != 'base':
        assert type(wrapper) is ALIGNMENTS[variant][0]
        encoder = wrapper.encoder
    assert type(encoder) is BACKBONES[backbone][0]
    attrs = expected_model(row)
    if backbone == 'simgcl':
        attrs['edge_drop_rate'] = 0.0  # keep_rate 1.0
    for key, value in attrs.items():
        assert getattr(encoder, key) == value, key
    # The SSL weight is the trainer's, never the module's.
    assert not hasattr(encoder, 'ssl_weight')
    assert not hasattr(wrapper, 'ssl_weight')
    width = OUT_CHANNELS.get(backbone, 32)
    assert encoder.out_channels == width

    # Every term the model returns has its weight, every weight its term
    # (step 0: AutoCF samples its graphs and returns 'infomax').
    user, pos = data[EDGE].edge_index[:, :8]
    batch = TrainBatch(user, pos, pos.flip(0), data,
                       torch.Generator().manual_seed(0), step=0)
    assert sorted(model.loss_terms(batch, trainer.reg)) == sorted(
        trainer.loss_weights)
    if variant == 'base':
        return

    for key, value in expected_module(row).items():
        assert getattr(wrapper, key) == value, key
    assert (wrapper.sem_channels, wrapper.out_channels) == (SEM_CHANNELS,
                                                            width)
    # Con's sigma_down: 1536 -> h -> width; Gen's sigma_up: the reverse.
    dims = ((SEM_CHANNELS, width) if variant == 'contrastive' else
            (width, SEM_CHANNELS))
    hidden = HIDDEN.get(backbone, 784)
    linears = [
        m for m in wrapper.projector.modules()
        if isinstance(m, torch.nn.Linear)
    ]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (dims[0], hidden), (hidden, dims[1])
    ]
    if variant == 'generative':  # the mask token replaces 32-d ID rows
        assert wrapper.in_channels == 32
        assert tuple(wrapper.mask_token.shape) == (1, 32)

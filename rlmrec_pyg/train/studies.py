r"""The data side of the paper's studies (`"Representation Learning with
Large Language Models for Recommendation"
<https://arxiv.org/abs/2310.15950>`_, §4.3-4.6): semantic vectors for
alignment, the shuffle ablation (RQ2), training noise (RQ3), time windows
and pre-trained initialisation (RQ4). :func:`prepare_data` applies what a
run config asks for, in that order, with one clear error before any
expensive step."""
import copy
import logging
import math
import os
import os.path as osp
from typing import Any, Callable, Dict, Optional, Sequence

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict
from torch.nn import Module
from torch_geometric.data import HeteroData

from rlmrec_pyg.data import add_noise_interactions
from rlmrec_pyg.data.graph import check_semantic
from rlmrec_pyg.train.checkpoint import load_checkpoint
from rlmrec_pyg.typing import (EDGE, ITEM, PROFILE, REV_EDGE, SEM_EMB,
                               TEST_INDEX, TEST_TIME, TEXT_FIELDS, TIME,
                               USER, VAL_INDEX, VAL_TIME)

log = logging.getLogger(__name__)

#: Split index attribute and its timestamp attribute on ``data[EDGE]``.
_SPLITS = (('edge_index', TIME), (VAL_INDEX, VAL_TIME), (TEST_INDEX,
                                                         TEST_TIME))


def shuffle_semantic(data: HeteroData, seed: int = 0) -> HeteroData:
    r"""Returns a copy of :obj:`data` whose :obj:`sem_emb` rows are randomly
    permuted within each node type (the paper's shuffle ablation, §4.3:
    the same vectors, no longer matched to their users and items).

    Args:
        data (HeteroData): A graph with :obj:`sem_emb` on users and items.
        seed (int, optional): Seed of the permutations. (default: :obj:`0`)
    """
    gen = torch.Generator().manual_seed(seed)
    out = copy.copy(data)
    for node_type in (USER, ITEM):
        if SEM_EMB not in data[node_type]:
            raise ValueError(f"'shuffle_semantic' needs 'sem_emb' on node "
                             f"type '{node_type}'")
        sem = data[node_type][SEM_EMB]
        perm = torch.randperm(sem.size(0), generator=gen)
        out[node_type][SEM_EMB] = sem[perm]
    return out


def time_window(data: HeteroData, start: float, end: float) -> HeteroData:
    r"""Returns a copy of :obj:`data` that keeps, in every split, the
    interactions whose timestamp lies between the :obj:`start` and
    :obj:`end` quantiles of all timestamps (RQ4: pre-train on an earlier
    window, fine-tune on a later one). Node ids, node counts and node text
    are unchanged, so embeddings trained on one window initialise a model
    on another; each interaction keeps its split, so held-out interactions
    stay held out (and out of the text) in every window.

    Args:
        data (HeteroData): A graph with timestamps :obj:`time`,
            :obj:`val_time` and :obj:`test_time` (*e.g.*,
            :class:`~rlmrec_pyg.data.MovieLensText`).
        start (float): Lower quantile in :math:`[0, 1)` (inclusive).
        end (float): Upper quantile in :math:`(0, 1]` (exclusive, except
            :obj:`1.0`).
    """
    if not 0.0 <= start < end <= 1.0:
        raise ValueError(f"'time_window' must satisfy 0 <= start < end <= 1 "
                         f"(got start={start}, end={end})")
    store = data[EDGE]
    missing = [key for _, key in _SPLITS if key not in store]
    if missing:
        raise ValueError(f"'time_window' needs interaction timestamps "
                         f"{missing} on the dataset (MovieLens and CSVs with "
                         f"a 'time_col' have them)")
    times = torch.cat([store[key] for _, key in _SPLITS]).double()
    lo, hi = torch.quantile(times, torch.tensor([start, end],
                                                dtype=torch.float64))
    out = copy.copy(data)
    for index_key, time_key in _SPLITS:
        t = store[time_key].double()
        keep = (t >= lo) & ((t < hi) if end < 1.0 else (t <= hi))
        out[EDGE][index_key] = store[index_key][:, keep]
        out[EDGE][time_key] = store[time_key][keep]
    out[REV_EDGE].edge_index = out[EDGE].edge_index.flip(0)
    log.info(f"Time window [{start}, {end}): "
             f"{out[EDGE].edge_index.size(1)} train / "
             f"{out[EDGE][VAL_INDEX].size(1)} val / "
             f"{out[EDGE][TEST_INDEX].size(1)} test interactions")
    return out


def has_text(data: HeteroData) -> bool:
    r"""Whether items carry profiles or raw text from which semantic
    vectors can be made (user profiles are composed from their training
    items when users have none)."""
    return any(key in data[ITEM] for key in (PROFILE, ) + TEXT_FIELDS)


def check_semantic_source(data: HeteroData, semantic: Any,
                          dataset: str) -> None:
    r"""Raises one :class:`ValueError` sentence when alignment is on but
    :obj:`data` cannot get semantic vectors: with no :obj:`semantic`
    config (or the official one) they must be attached already; a text
    encoder (:obj:`semantic=minilm`, ...) needs profiles or raw text.
    Called before any profile, vector or training work."""
    target = str(semantic.get('_target_', '')) if semantic else ''
    attached = all(SEM_EMB in data[nt] for nt in (USER, ITEM))
    if not semantic or target.endswith('OfficialSemantic'):
        if attached:
            return
        if not semantic and has_text(data):
            raise ValueError(f"Alignment needs semantic vectors, but dataset "
                             f"'{dataset}' has no 'sem_emb' attached: choose "
                             f"a text encoder for its text, e.g. "
                             f"'semantic=minilm'")
        raise ValueError(f"Alignment needs semantic vectors, but dataset "
                         f"'{dataset}' has no 'sem_emb' (for amazon, yelp "
                         f"and steam put the official usr_emb_np.pkl and "
                         f"itm_emb_np.pkl into the raw folder, or use a "
                         f"dataset with text such as 'dataset=movielens')")
    if not has_text(data):
        raise ValueError(f"Alignment with '{target}' encodes profiles or "
                         f"text, but dataset '{dataset}' has no item profiles "
                         f"or text (use 'semantic=null' with "
                         f"attached 'sem_emb', or a dataset with text such "
                         f"as 'dataset=movielens')")


def load_pretrained(path: str, embedding: Module,
                    model: Optional[Module] = None) -> None:
    r"""Initialises :obj:`embedding` (and the encoder parameters of
    :obj:`model` whose names and shapes match) from a checkpoint written by
    :class:`~rlmrec_pyg.train.Trainer`. Alignment modules of the
    pre-training run (projector, mask token) are dropped: the paper
    (§4.5, Table 3) initialises the downstream model with the pre-trained
    embeddings only.

    Args:
        path (str): The checkpoint file.
        embedding (torch.nn.Module): The ID embeddings to initialise.
        model (torch.nn.Module, optional): The downstream encoder.
            (default: :obj:`None`)
    """
    ckpt = load_checkpoint(path, required=('embedding', ),
                           what="'init_from' checkpoint")
    embedding.load_state_dict(ckpt['embedding'])
    if model is None or not ckpt.get('model'):
        return
    own = model.state_dict()
    loaded = {}
    for key, value in ckpt['model'].items():
        key = key[len('encoder.'):] if key.startswith('encoder.') else key
        if key in own and own[key].shape == value.shape:
            loaded[key] = value
    model.load_state_dict(loaded, strict=False)
    log.info(f"Initialised from '{path}' (embedding + {len(loaded)} encoder "
             f"tensors)")


def dataset_name(cfg: DictConfig) -> str:
    r"""The dataset's name for messages: the chosen :obj:`dataset` config
    inside a Hydra run, else its :obj:`name` or :obj:`_target_`."""
    try:
        from hydra.core.hydra_config import HydraConfig
        return str(HydraConfig.get().runtime.choices['dataset'])
    except (ValueError, KeyError):
        ds = cfg.get('dataset') or {}
        return str(ds.get('name') or ds.get('_target_', '?'))


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"'{key}' must be a number (got {value!r})")
    if not math.isfinite(value):
        raise ValueError(f"'{key}' must be finite (got {value})")
    return float(value)


def _window(window: Any, key: str = 'time_window'
            ) -> Optional[Sequence[float]]:
    if window is None:
        return None
    if isinstance(window, str) or not hasattr(window, '__len__') \
            or len(window) != 2:
        raise ValueError(f"'{key}' must be [start, end] quantiles with "
                         f"0 <= start < end <= 1 (got {window!r})")
    start, end = (_number(v, key) for v in window)
    if not 0.0 <= start < end <= 1.0:
        raise ValueError(f"'{key}' must be [start, end] quantiles with "
                         f"0 <= start < end <= 1 (got [{start}, {end}])")
    return [start, end]


def check_study_options(cfg: DictConfig) -> None:
    r"""Raises one :class:`ValueError` naming the key when a study option
    of a run config is out of range: :obj:`noise_ratio` (a finite number
    :math:`\geq 0`), :obj:`shuffle_semantic` (a boolean),
    :obj:`time_window` and :obj:`pretrain.time_window` (quantiles
    :math:`0 \leq s < e \leq 1`), :obj:`pretrain.enabled` (a boolean),
    :obj:`seed` (an integer). Called before any data, profile or vector
    work (the loss weights are the trainer's, checked by it)."""
    ratio = _number(cfg.get('noise_ratio') or 0.0, 'noise_ratio')
    if ratio < 0:
        raise ValueError(f"'noise_ratio' must be >= 0, the fraction of "
                         f"training interactions added as noise (got "
                         f"{ratio})")
    for key in ('shuffle_semantic', 'resume'):
        if not isinstance(cfg.get(key, False), bool):
            raise ValueError(f"'{key}' must be true or false (got "
                             f"{cfg.get(key)!r})")
    seed = cfg.get('seed')
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"'seed' must be an integer (got {seed!r})")
    _window(cfg.get('time_window'))
    pretrain = cfg.get('pretrain')
    if pretrain:
        if not isinstance(pretrain.get('enabled', False), bool):
            raise ValueError(f"'pretrain.enabled' must be true or false (got "
                             f"{pretrain.get('enabled')!r})")
        _window(pretrain.get('time_window'), 'pretrain.time_window')


def prepare_data(data: HeteroData, cfg: DictConfig,
                 align: bool) -> HeteroData:
    r"""Applies the study options of a run config to :obj:`data`, in order:
    :obj:`time_window` (RQ4), semantic vectors from :obj:`cfg.semantic`
    when :obj:`align` (checked first, see :func:`check_semantic_source`;
    profiles see the window's clean training interactions),
    :obj:`noise_ratio` (RQ3, seeded by :obj:`seed`; noise reaches the graph
    only, as in the paper) and :obj:`shuffle_semantic` (RQ2)."""
    name = dataset_name(cfg)
    check_study_options(cfg)
    window = _window(cfg.get('time_window'))
    if align:
        check_semantic_source(data, cfg.get('semantic'), name)
    elif cfg.get('shuffle_semantic'):
        raise ValueError("'shuffle_semantic=true' needs alignment (choose "
                         "'alignment=contrastive' or 'alignment=generative')")
    if window is not None:
        data = time_window(data, *window)
    if align and cfg.get('semantic') is not None:
        log.info(f"Instantiating semantic <{cfg.semantic._target_}>")
        data = instantiate(cfg.semantic)(data)
    if align:
        check_semantic(data, name)
    ratio = float(cfg.get('noise_ratio') or 0.0)
    if ratio > 0:
        before = data[EDGE].edge_index.size(1)
        data = add_noise_interactions(data, ratio, seed=int(cfg.seed))
        log.info(f"Added {data[EDGE].edge_index.size(1) - before} noise "
                 f"interactions (ratio {ratio})")
    if align and cfg.get('shuffle_semantic'):
        log.info('Shuffling the semantic vectors (ablation)')
        data = shuffle_semantic(data, seed=int(cfg.seed))
    return data


def pretrain_then_finetune(cfg: DictConfig,
                           run: Callable[[DictConfig], Dict[str, Any]]
                           ) -> Dict[str, Any]:
    r"""RQ4 (paper §4.5, Table 3) in one run: trains :obj:`cfg` (with its
    alignment, if any) on :obj:`cfg.pretrain.time_window` into
    :obj:`<output_dir>/pretrain`, then trains the plain backbone (no
    alignment) on :obj:`cfg.time_window`, its ID embeddings initialised from
    the pre-trained checkpoint (:func:`load_pretrained`), into
    :obj:`output_dir`. Returns the downstream metrics of :obj:`run` plus the
    pre-training ones under :obj:`"pretrain/..."`."""
    out = str(cfg.output_dir)
    pre, down = copy.deepcopy(cfg), copy.deepcopy(cfg)
    with open_dict(pre), open_dict(down):
        pre.pretrain = down.pretrain = None
        window = cfg.pretrain.get('time_window')
        pre.time_window = None if window is None else list(window)
        pre.output_dir = osp.join(out, 'pretrain')
        down.output_dir = out
        down.alignment = None
        down.shuffle_semantic = False
        if down.trainer.get('loss_weights'):
            down.trainer.loss_weights.pop('align', None)
        down.init_from = osp.join(out, 'pretrain', 'best.pt')
    os.makedirs(pre.output_dir, exist_ok=True)
    log.info(f"Pre-training on time window {pre.time_window}")
    pre_metrics = run(pre)
    log.info(f"Fine-tuning on time window {cfg.get('time_window')}")
    metrics = dict(run(down))
    metrics.update({f'pretrain/{k}': v for k, v in pre_metrics.items()})
    return metrics

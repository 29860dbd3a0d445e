r"""The paper's studies from a run config (`"Representation Learning with
Large Language Models for Recommendation"
<https://arxiv.org/abs/2310.15950>`_, Sec. 4.3-4.6): semantic vectors for
alignment, the shuffle ablation (RQ2), training noise (RQ3), time windows
and pre-trained initialisation (RQ4). :func:`data_transforms` turns the
config's options into graph transforms (:mod:`rlmrec_pyg.data.transforms`),
:func:`prepare_data` applies them with one clear error before any
expensive step, and :func:`pretrain_then_finetune` chains two runs."""
import copy
import logging
import math
import os
import os.path as osp
from typing import Any, Callable, Dict, List, Optional, Sequence

from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict
from torch_geometric.data import HeteroData
from torch_geometric.transforms import Compose

from rlmrec_pyg.data.cold_start import DropColdItems, HoldOutItems
from rlmrec_pyg.data.graph import check_semantic
from rlmrec_pyg.data.transforms import (AddNoiseInteractions,
                                        ShuffleSemantic, TimeWindow)
from rlmrec_pyg.typing import ITEM, PROFILE, SEM_EMB, TEXT_FIELDS, USER

log = logging.getLogger(__name__)


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
    encoder (:obj:`semantic=minilm`, ...) needs profiles or raw text;
    stored vectors (:obj:`semantic=stored`) need neither.
    Called before any profile, vector or training work."""
    target = str(semantic.get('_target_', '')) if semantic else ''
    if target.endswith('MemoryMappedSemantic'):
        return  # The stores' own errors name what is missing.
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


def dataset_name(cfg: DictConfig) -> str:
    r"""The dataset's name for messages: the chosen :obj:`dataset` config
    inside a Hydra run, else its :obj:`name` or :obj:`_target_`."""
    try:
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
    if isinstance(window, str) or not isinstance(window, Sequence) \
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
    cold = _number(cfg.get('cold_items') or 0.0, 'cold_items')
    if not 0 <= cold < 1:
        raise ValueError(f"'cold_items' must be a fraction in [0, 1), the "
                         f"items held out for the cold-start evaluation "
                         f"(got {cold})")
    pretrain = cfg.get('pretrain')
    if pretrain:
        if not isinstance(pretrain.get('enabled', False), bool):
            raise ValueError(f"'pretrain.enabled' must be true or false (got "
                             f"{pretrain.get('enabled')!r})")
        _window(pretrain.get('time_window'), 'pretrain.time_window')


def data_transforms(cfg: DictConfig,
                    align: bool) -> List[Callable[[HeteroData], HeteroData]]:
    r"""The graph transforms a run config asks for, in order:
    :obj:`time_window` (:class:`~rlmrec_pyg.data.transforms.TimeWindow`,
    RQ4), :obj:`cold_items` (:class:`~rlmrec_pyg.data.cold_start.
    HoldOutItems`, seeded by :obj:`seed`), the semantic vectors of
    :obj:`cfg.semantic` when :obj:`align` or :obj:`cold_items` (profiles
    see the window's clean training interactions), the cold items dropped
    from the graph (:class:`~rlmrec_pyg.data.cold_start.DropColdItems`),
    :obj:`noise_ratio` (:class:`~rlmrec_pyg.data.transforms.
    AddNoiseInteractions`, RQ3, seeded by :obj:`seed`; noise reaches the
    graph only, as in the paper) and :obj:`shuffle_semantic`
    (:class:`~rlmrec_pyg.data.transforms.ShuffleSemantic`, RQ2)."""
    check_study_options(cfg)
    transforms: List[Callable[[HeteroData], HeteroData]] = []
    window = _window(cfg.get('time_window'))
    if window is not None:
        transforms.append(TimeWindow(*window))
    cold = float(cfg.get('cold_items') or 0.0)
    if cold > 0:
        transforms.append(HoldOutItems(cold, seed=int(cfg.seed)))
    if (align or cold > 0) and cfg.get('semantic') is not None:
        log.info(f"Instantiating semantic <{cfg.semantic._target_}>")
        transforms.append(instantiate(cfg.semantic))
    if cold > 0:
        transforms.append(DropColdItems())
    ratio = float(cfg.get('noise_ratio') or 0.0)
    if ratio > 0:
        transforms.append(AddNoiseInteractions(ratio, seed=int(cfg.seed)))
    if cfg.get('shuffle_semantic'):
        if not align:
            raise ValueError("'shuffle_semantic=true' needs alignment "
                             "(choose 'alignment=contrastive' or "
                             "'alignment=generative')")
        transforms.append(ShuffleSemantic(seed=int(cfg.seed)))
    return transforms


def prepare_data(data: HeteroData, cfg: DictConfig,
                 align: bool) -> HeteroData:
    r"""Checks that :obj:`data` can get what the run config asks for
    (:func:`check_semantic_source`), applies :func:`data_transforms` and,
    when :obj:`align`, checks the semantic vectors (finite, one row per
    node)."""
    name = dataset_name(cfg)
    check_study_options(cfg)
    if align:
        check_semantic_source(data, cfg.get('semantic'), name)
    data = Compose(data_transforms(cfg, align))(data)
    if align:
        check_semantic(data, name)
    return data


def pretrain_then_finetune(cfg: DictConfig,
                           run: Callable[[DictConfig], Dict[str, Any]]
                           ) -> Dict[str, Any]:
    r"""RQ4 (paper Sec. 4.5, Table 3) in one run: trains :obj:`cfg` (with
    its alignment, if any) on :obj:`cfg.pretrain.time_window` into
    :obj:`<output_dir>/pretrain`, then trains the plain backbone (no
    alignment) on :obj:`cfg.time_window`, its ID embeddings initialised from
    the pre-trained checkpoint
    (:func:`~rlmrec_pyg.train.checkpoint.load_pretrained`), into
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

r"""The runs of a Hydra multirun and their per-setting statistics
(`"Representation Learning with Large Language Models for Recommendation"
<https://arxiv.org/abs/2310.15950>`_, Table 1 style).

Every job folder with a :obj:`metrics.json` and a
:obj:`.hydra/overrides.yaml` is one run. Runs that differ only in
:obj:`seed` form one setting (mean :math:`\pm` standard deviation over
seeds). A setting with alignment is compared with the setting that has the
same other overrides, the same model and dataset, and no alignment (the
base):
:math:`\mathrm{Imprv.} = \bar{m} / \bar{m}_{\text{base}} - 1`."""
import json
import math
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

METRICS = ('recall@5', 'recall@10', 'recall@20', 'ndcg@5', 'ndcg@10',
           'ndcg@20')
#: Override keys that never define a setting.
IGNORED = ('seed', )
#: Override keys (and prefixes) in which an aligned setting may differ from
#: its base.
VARIANT_KEYS = ('alignment', 'experiment', 'semantic', 'shuffle_semantic')
BASE_VALUES = ('null', 'none', '~', '')
#: Config groups an aligned run shares with its base (whether chosen by an
#: override or by an experiment file): a Table 1 sweep over experiments
#: compares each backbone on each dataset with its own base.
BACKBONE_KEYS = ('model', 'dataset')

Setting = Tuple[Tuple[str, str], ...]


def parse_overrides(overrides: Sequence[str]) -> Dict[str, str]:
    r"""Maps Hydra override strings (:obj:`"alignment=contrastive"`,
    :obj:`"+experiment=x"`, :obj:`"~key"`) to :obj:`{key: value}`."""
    out = {}
    for item in overrides:
        key, _, value = str(item).partition('=')
        out[key.lstrip('+~')] = value.strip('\'"')
    return out


def collect(folder: str) -> List[Dict[str, Any]]:
    r"""Returns one :obj:`{'dir', 'overrides', 'metrics'}` per run found
    below :obj:`folder`."""
    runs = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        if 'metrics.json' not in files or '.hydra' not in dirs:
            continue
        path = osp.join(root, '.hydra', 'overrides.yaml')
        overrides: List[str] = []
        if osp.isfile(path):
            with open(path) as f:
                overrides = yaml.safe_load(f) or []
        with open(osp.join(root, 'metrics.json')) as f:
            metrics = json.load(f)
        choices = _choices(root)
        alignment = choices.get('alignment', 'null') if choices else None
        runs.append(dict(dir=root, overrides=parse_overrides(overrides),
                         metrics=metrics, alignment=alignment,
                         backbone=tuple((k, str(choices.get(k)))
                                        for k in BACKBONE_KEYS
                                        if choices.get(k) is not None)))
    if not runs:
        raise ValueError(f"No run with a 'metrics.json' found below "
                         f"'{folder}'")
    return runs


def _choices(run_dir: str) -> Dict[str, Any]:
    # The config groups chosen in the run (by an override or by an
    # experiment file), from Hydra's runtime choices.
    path = osp.join(run_dir, '.hydra', 'hydra.yaml')
    if not osp.isfile(path):
        return {}
    with open(path) as f:
        choices = (yaml.safe_load(f) or {}).get('hydra', {}).get(
            'runtime', {}).get('choices', {})
    out = dict(choices or {})
    if 'alignment' in out:
        out['alignment'] = 'null' if out['alignment'] is None else str(
            out['alignment'])
    return out


def _is_variant_key(key: str) -> bool:
    return any(key == k or key.startswith(f'{k}.') or key.startswith(f'{k}/')
               for k in VARIANT_KEYS)


def _mean_std(values: List[float]) -> Tuple[float, float]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    var = sum((v - mean)**2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var)


def _epoch_seconds(metrics: Dict[str, Any]) -> Optional[float]:
    if 'epoch_seconds' in metrics:
        return float(metrics['epoch_seconds'])
    if 'seconds' in metrics and 'last_epoch' in metrics:
        return float(metrics['seconds']) / (int(metrics['last_epoch']) + 1)
    return None


def summarize(runs: List[Dict[str, Any]], split: str = 'test',
              metrics: Sequence[str] = METRICS) -> List[Dict[str, Any]]:
    r"""Groups :obj:`runs` by their overrides without :obj:`seed` and returns
    one row per setting: :obj:`{'setting', 'n', 'mean', 'std', 'base',
    'imprv'}` (:obj:`imprv` in percent, :obj:`None` for base rows or when
    no base run exists)."""
    groups: Dict[Setting, List[Dict[str, Any]]] = {}
    for run in runs:
        key = tuple(sorted((k, v) for k, v in run['overrides'].items()
                           if k not in IGNORED))
        groups.setdefault(key, []).append(run)
    rows = []
    for setting, members in groups.items():
        mean, std = {}, {}
        for metric in metrics:
            values = [float(r['metrics'][split][metric]) for r in members
                      if metric in r['metrics'].get(split, {})]
            if values:
                mean[metric], std[metric] = _mean_std(values)
        secs = [s for s in map(_epoch_seconds, (r['metrics']
                                                for r in members))
                if s is not None]
        if secs:
            mean['s/epoch'], std['s/epoch'] = _mean_std(secs)
        alignment = members[0]['alignment'] or dict(setting).get(
            'alignment', 'null')
        rows.append(dict(setting=setting, n=len(members), mean=mean,
                         std=std, base=alignment in BASE_VALUES,
                         pair=comparison_key(setting) +
                         members[0].get('backbone', ())))
    bases = {}
    for row in rows:
        if row['base']:
            bases.setdefault(row['pair'], row)
    for row in rows:
        base = bases.get(row['pair'])
        row['imprv'] = None
        if not row['base'] and base is not None:
            row['imprv'] = {
                m: 100.0 * (row['mean'][m] / base['mean'][m] - 1.0)
                for m in metrics if m in row['mean'] and m in base['mean']
                and base['mean'][m] > 0
            }
    rows.sort(key=lambda r: (r['pair'], not r['base'], r['setting']))
    for row in rows:
        del row['pair']
    return rows


def comparison_key(setting: Setting) -> Setting:
    return tuple((k, v) for k, v in setting if not _is_variant_key(k))

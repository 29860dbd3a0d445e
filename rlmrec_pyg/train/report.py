r"""Tables and figures from a multirun (`"Representation Learning with Large
Language Models for Recommendation" <https://arxiv.org/abs/2310.15950>`_,
Table 1 and Fig. 4/5 style):
``python -m rlmrec_pyg.train.report multirun/2026-11-25/20-00-00``.

Every job folder with a :obj:`metrics.json` and a
:obj:`.hydra/overrides.yaml` is one run. Runs that differ only in
:obj:`seed` form one setting (mean :math:`\pm` standard deviation over
seeds). A setting with alignment is compared with the setting that has the
same other overrides and no alignment (the base):
:math:`\mathrm{Imprv.} = \bar{m} / \bar{m}_{\text{base}} - 1`."""
import argparse
import json
import logging
import math
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)

METRICS = ('recall@5', 'recall@10', 'recall@20', 'ndcg@5', 'ndcg@10',
           'ndcg@20')
#: Override keys that never define a setting.
IGNORED = ('seed', )
#: Override keys (and prefixes) in which an aligned setting may differ from
#: its base.
VARIANT_KEYS = ('alignment', 'experiment', 'semantic', 'shuffle_semantic')
BASE_VALUES = ('null', 'none', '~', '')

Setting = Tuple[Tuple[str, str], ...]


def _short(metric: str) -> str:
    name, _, k = metric.partition('@')
    return f"{dict(recall='R', ndcg='N').get(name, name)}@{k}"


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
        runs.append(dict(dir=root, overrides=parse_overrides(overrides),
                         metrics=metrics, alignment=_alignment(root)))
    if not runs:
        raise ValueError(f"No run with a 'metrics.json' found below "
                         f"'{folder}'")
    return runs


def _alignment(run_dir: str) -> Optional[str]:
    # The alignment group chosen in the run (set by an override or by an
    # experiment file), from Hydra's runtime choices.
    path = osp.join(run_dir, '.hydra', 'hydra.yaml')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        choices = (yaml.safe_load(f) or {}).get('hydra', {}).get(
            'runtime', {}).get('choices', {})
    value = choices.get('alignment')
    return 'null' if value is None else str(value)


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
                         std=std, base=alignment in BASE_VALUES))
    bases = {}
    for row in rows:
        if row['base']:
            bases.setdefault(_comparison_key(row['setting']), row)
    for row in rows:
        base = bases.get(_comparison_key(row['setting']))
        row['imprv'] = None
        if not row['base'] and base is not None:
            row['imprv'] = {
                m: 100.0 * (row['mean'][m] / base['mean'][m] - 1.0)
                for m in metrics if m in row['mean'] and m in base['mean']
                and base['mean'][m] > 0
            }
    rows.sort(key=lambda r: (_comparison_key(r['setting']), not r['base'],
                             r['setting']))
    return rows


def _comparison_key(setting: Setting) -> Setting:
    return tuple((k, v) for k, v in setting if not _is_variant_key(k))


def _label(setting: Setting, shown: Optional[Sequence[str]] = None) -> str:
    items = [f'{k}={v}' for k, v in setting if shown is None or k in shown]
    return ' '.join(items) or '(defaults)'


def varying_keys(rows: List[Dict[str, Any]]) -> List[str]:
    r"""The override keys whose value differs between settings (the others
    are common to all rows)."""
    values: Dict[str, set] = {}
    for row in rows:
        for key, value in row['setting']:
            values.setdefault(key, set()).add(value)
    return [k for k, v in values.items()
            if len(v) > 1 or any(k not in dict(r['setting']) for r in rows)]


def common_overrides(rows: List[Dict[str, Any]]) -> str:
    r"""The overrides shared by every setting, as one line."""
    shown = varying_keys(rows)
    return _label(rows[0]['setting'], [
        k for k, _ in rows[0]['setting'] if k not in shown
    ]) if rows else ''


def to_markdown(rows: List[Dict[str, Any]], split: str = 'test',
                metrics: Sequence[str] = METRICS) -> str:
    r"""The Table-1 style markdown table of :func:`summarize`'s rows: mean
    :math:`\pm` std over seeds and, for aligned settings, the relative
    improvement over their base."""
    cols = [m for m in metrics if any(m in r['mean'] for r in rows)]
    timed = any('s/epoch' in r['mean'] for r in rows)
    head = ['setting', 'seeds'] + [f'{_short(m)} ({split})' for m in cols]
    head += ['s/epoch'] if timed else []
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    shown = varying_keys(rows)
    for row in rows:
        cells = [_label(row['setting'], shown), str(row['n'])]
        for m in cols:
            if m not in row['mean']:
                cells.append('–')
                continue
            cell = f"{row['mean'][m]:.4f} ± {row['std'][m]:.4f}"
            if row['imprv'] and m in row['imprv']:
                cell += f" ({row['imprv'][m]:+.2f} %)"
            cells.append(cell)
        if timed:
            cells.append(f"{row['mean']['s/epoch']:.3f} ± "
                         f"{row['std']['s/epoch']:.3f}"
                         if 's/epoch' in row['mean'] else '–')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def sweep_key(rows: List[Dict[str, Any]]) -> Optional[str]:
    r"""The numeric override with the most distinct values (at least 3),
    *e.g.* :obj:`noise_ratio`: the x-axis of a Fig. 5 style plot."""
    values: Dict[str, set] = {}
    for row in rows:
        for key, value in row['setting']:
            try:
                float(value)
            except ValueError:
                continue
            values.setdefault(key, set()).add(value)
    best = max(values, key=lambda k: len(values[k]), default=None)
    return best if best is not None and len(values[best]) >= 3 else None


def plot(rows: List[Dict[str, Any]], path: str,
         metrics: Sequence[str] = ('recall@20', 'ndcg@20'),
         x_key: Optional[str] = None) -> str:
    r"""Writes a figure to :obj:`path`: metric against :obj:`x_key` with one
    line per remaining setting (Fig. 5 style) when :obj:`x_key` is given,
    else one bar per setting (Fig. 4 style); error bars are the std over
    seeds."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover
        raise ImportError("'report' figures need matplotlib (pip install "
                          "matplotlib)") from e
    metrics = [m for m in metrics if any(m in r['mean'] for r in rows)]
    shown = varying_keys(rows)
    fig, axes = plt.subplots(1, len(metrics), squeeze=False,
                             figsize=(5 * len(metrics), 3.8))
    for ax, metric in zip(axes[0], metrics):
        if x_key is not None:
            lines: Dict[str, List[Tuple[float, float, float]]] = {}
            for row in rows:
                items = dict(row['setting'])
                if metric not in row['mean'] or x_key not in items:
                    continue
                x = float(items.pop(x_key))
                lines.setdefault(_label(tuple(items.items()), shown),
                                 []).append(
                    (x, row['mean'][metric], row['std'][metric]))
            for label, pts in sorted(lines.items()):
                pts.sort()
                ax.errorbar([p[0] for p in pts], [p[1] for p in pts],
                            yerr=[p[2] for p in pts], marker='o',
                            capsize=3, label=label)
            ax.set_xlabel(x_key)
        else:
            bars = [r for r in rows if metric in r['mean']]
            ax.bar(range(len(bars)), [r['mean'][metric] for r in bars],
                   yerr=[r['std'][metric] for r in bars], capsize=3,
                   color=['tab:gray' if r['base'] else 'tab:blue'
                          for r in bars])
            ax.set_xticks(range(len(bars)))
            ax.set_xticklabels([_label(r['setting'], shown) for r in bars],
                               rotation=30, ha='right', fontsize=7)
            low = min(r['mean'][metric] - r['std'][metric] for r in bars)
            ax.set_ylim(bottom=max(0.0, 0.9 * low))
        ax.set_ylabel(_short(metric))
        ax.set_title(_short(metric))
        ax.grid(alpha=0.3)
    if x_key is not None:
        axes[0][-1].legend(fontsize=7)
    fig.savefig(path, dpi=120, bbox_inches='tight')
    plt.close(fig)
    return path


def report(folder: str, out_dir: Optional[str] = None, split: str = 'test',
           x_key: Optional[str] = None) -> Dict[str, str]:
    r"""Reads the runs below :obj:`folder` and writes :obj:`report.md`,
    :obj:`summary.json` and :obj:`report.png` (when matplotlib is
    installed) into :obj:`out_dir` (default: :obj:`folder`). Returns the
    paths written.

    Args:
        folder (str): A multirun folder (or any folder with runs below it).
        out_dir (str, optional): Output folder. (default: :obj:`None`)
        split (str, optional): :obj:`"test"` or :obj:`"val"`.
            (default: :obj:`"test"`)
        x_key (str, optional): Override plotted on the x-axis; :obj:`None`
            picks a numeric sweep (see :func:`sweep_key`), else bars.
            (default: :obj:`None`)
    """
    if split not in ('test', 'val'):
        raise ValueError(f"'split' must be 'test' or 'val' (got '{split}')")
    rows = summarize(collect(folder), split)
    out_dir = out_dir or folder
    os.makedirs(out_dir, exist_ok=True)
    x_key = x_key or sweep_key(rows)
    paths = dict(markdown=osp.join(out_dir, 'report.md'),
                 summary=osp.join(out_dir, 'summary.json'),
                 figure=osp.join(out_dir, 'report.png'))
    table = to_markdown(rows, split)
    with open(paths['markdown'], 'w') as f:
        f.write(f'# Report: {osp.abspath(folder)}\n\nCommon overrides: '
                f'`{common_overrides(rows)}`\n\n{table}')
    with open(paths['summary'], 'w') as f:
        json.dump([dict(r, setting=dict(r['setting'])) for r in rows], f,
                  indent=1)
    try:
        plot(rows, paths['figure'], x_key=x_key)
    except ImportError as e:  # the table does not need matplotlib
        log.warning(f'No figure: {e}')
        del paths['figure']
    log.info(f'Report written to {out_dir}')
    return paths


class ReportCallback(Callback):
    r"""A Hydra callback that writes :func:`report` into the sweep folder
    when a multirun ends and logs the table, so one command runs a study
    and prints its comparison:

    .. code-block:: yaml

        hydra:
          callbacks:
            report:
              _target_: rlmrec_pyg.train.report.ReportCallback

    Args:
        split (str, optional): :obj:`"test"` or :obj:`"val"`.
            (default: :obj:`"test"`)
    """
    def __init__(self, split: str = 'test') -> None:
        self.split = split

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        folder = str(config.hydra.sweep.dir)
        paths = report(folder, split=self.split)
        with open(paths['markdown']) as f:
            log.info(f'Report of {folder}:\n{f.read()}')


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        description='Markdown table and figure from a Hydra multirun.')
    parser.add_argument('folder', help='the multirun folder')
    parser.add_argument('--out', default=None,
                        help='output folder (default: the multirun folder)')
    parser.add_argument('--split', default='test', choices=['test', 'val'])
    parser.add_argument('--x', default=None, dest='x_key',
                        help='override on the x-axis, e.g. noise_ratio')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    paths = report(args.folder, args.out, args.split, args.x_key)
    with open(paths['markdown']) as f:
        print(f.read())


if __name__ == '__main__':
    main()

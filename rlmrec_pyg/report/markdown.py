r"""The Table-1 style markdown table of a multirun's settings."""
from typing import Any, Dict, List, Optional, Sequence

from rlmrec_pyg.report.runs import METRICS, Setting


def short_metric(metric: str) -> str:
    name, _, k = metric.partition('@')
    return f"{dict(recall='R', ndcg='N').get(name, name)}@{k}"


def label(setting: Setting, shown: Optional[Sequence[str]] = None) -> str:
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
    return label(rows[0]['setting'], [
        k for k, _ in rows[0]['setting'] if k not in shown
    ]) if rows else ''


def to_markdown(rows: List[Dict[str, Any]], split: str = 'test',
                metrics: Sequence[str] = METRICS) -> str:
    r"""The Table-1 style markdown table of :func:`summarize`'s rows: mean
    :math:`\pm` std over seeds and, for aligned settings, the relative
    improvement over their base."""
    cols = [m for m in metrics if any(m in r['mean'] for r in rows)]
    timed = any('s/epoch' in r['mean'] for r in rows)
    head = ['setting', 'seeds']
    head += [f'{short_metric(m)} ({split})' for m in cols]
    head += ['s/epoch'] if timed else []
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    shown = varying_keys(rows)
    for row in rows:
        cells = [label(row['setting'], shown), str(row['n'])]
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

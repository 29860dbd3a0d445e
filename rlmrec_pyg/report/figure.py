r"""Figures of a multirun's settings (matplotlib, optional): bars per
setting (Fig. 4 style) or a metric against a swept override (Fig. 5
style)."""
from typing import Any, Dict, List, Optional, Sequence, Tuple

from rlmrec_pyg.report.markdown import label, short_metric, varying_keys


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
                lines.setdefault(label(tuple(items.items()), shown),
                                 []).append(
                    (x, row['mean'][metric], row['std'][metric]))
            for name, pts in sorted(lines.items()):
                pts.sort()
                ax.errorbar([p[0] for p in pts], [p[1] for p in pts],
                            yerr=[p[2] for p in pts], marker='o',
                            capsize=3, label=name)
            ax.set_xlabel(x_key)
        else:
            bars = [r for r in rows if metric in r['mean']]
            ax.bar(range(len(bars)), [r['mean'][metric] for r in bars],
                   yerr=[r['std'][metric] for r in bars], capsize=3,
                   color=['tab:gray' if r['base'] else 'tab:blue'
                          for r in bars])
            ax.set_xticks(range(len(bars)))
            ax.set_xticklabels([label(r['setting'], shown) for r in bars],
                               rotation=30, ha='right', fontsize=7)
            low = min(r['mean'][metric] - r['std'][metric] for r in bars)
            ax.set_ylim(bottom=max(0.0, 0.9 * low))
        ax.set_ylabel(short_metric(metric))
        ax.set_title(short_metric(metric))
        ax.grid(alpha=0.3)
    if x_key is not None:
        axes[0][-1].legend(fontsize=7)
    fig.savefig(path, dpi=120, bbox_inches='tight')
    plt.close(fig)
    return path

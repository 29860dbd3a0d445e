r"""Tables and figures from a multirun (`"Representation Learning with Large
Language Models for Recommendation" <https://arxiv.org/abs/2310.15950>`_,
Table 1 and Fig. 4/5 style): ``rlmrec-report multirun/<date>/<time>``, or
:func:`report` from Python, or the Hydra callback
:class:`rlmrec_pyg.cli.report.ReportCallback` at the end of a sweep."""
import json
import logging
import os
import os.path as osp
from typing import Dict, Optional

from rlmrec_pyg.report.figure import plot, sweep_key
from rlmrec_pyg.report.markdown import (common_overrides, to_markdown,
                                        varying_keys)
from rlmrec_pyg.report.runs import METRICS, collect, parse_overrides, summarize

log = logging.getLogger(__name__)


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


__all__ = [
    'METRICS', 'collect', 'parse_overrides', 'summarize', 'to_markdown',
    'varying_keys', 'common_overrides', 'sweep_key', 'plot', 'report'
]

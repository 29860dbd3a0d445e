r"""Sweeps through Hydra's submitit plugin (the ``cluster`` extra): the
local twin of the SLURM launcher runs a two-job sweep and its report, and a
job of two tasks trains data-parallel like one process."""
import csv
import json
import os
import subprocess
import sys

import pytest
from run_helpers import RUN_MODULE

from rlmrec_pyg.cli import CONFIG_DIR

pytest.importorskip('hydra_plugins.hydra_submitit_launcher')

ARGS = ['debug=fast', 'dataset=clustered', 'alignment=contrastive',
        'trainer.batch_size=64', 'trainer.max_epochs=2', 'seed=7']


def cli(tmp_path, *args):
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1',
               RLMREC_OUTPUT_DIR=str(tmp_path / 'out'))
    for key in ('RANK', 'WORLD_SIZE', 'SUBMITIT_EXECUTOR'):
        env.pop(key, None)
    out = subprocess.run([sys.executable, '-m', RUN_MODULE, *args],
                         cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def jobs(sweep):
    # submitit's job folders (it also leaves an empty '%j').
    return [p for p in (sweep / '.submitit').iterdir() if p.name.isdigit()]


def history(run_dir):
    with open(run_dir / 'history.csv') as f:
        return list(csv.DictReader(f))


def test_two_job_sweep_on_the_local_twin_with_its_report(tmp_path):
    sweep = tmp_path / 'sweep'
    out = cli(tmp_path, '-m', 'hydra/launcher=slurm_local', 'debug=fast',
              'seed=1,2', f'hydra.sweep.dir={sweep}',
              '+hydra.callbacks.report._target_='
              'rlmrec_pyg.cli.report.ReportCallback')
    assert "Submitit 'local' sweep output dir" in out.stdout + out.stderr
    for job in ('0', '1'):
        metrics = json.loads((sweep / job / 'metrics.json').read_text())
        assert 0 <= metrics['test']['recall@20'] <= 1
    # Each job ran as its own submitit job (logs under .submitit/).
    assert len(jobs(sweep)) == 2
    table = (sweep / 'report.md').read_text()
    assert '| (defaults) | 2 |' in table


def test_a_job_of_two_tasks_trains_data_parallel(tmp_path):
    one = tmp_path / 'one'
    cli(tmp_path, *ARGS, f'hydra.run.dir={one}')
    sweep = tmp_path / 'sweep'
    cli(tmp_path, '-m', 'hydra/launcher=slurm_local',
        'hydra.launcher.tasks_per_node=2', *ARGS, f'hydra.sweep.dir={sweep}')
    two = sweep / '0'
    # Two tasks, one process group: rank 0 alone logged and wrote, and the
    # trajectory is the one-process one (up to the order of float sums).
    logs = os.listdir(jobs(sweep)[0])
    assert {'0', '1'} <= {name.split('_')[1] for name in logs
                          if name.endswith('_log.out')}
    assert (two / 'train.log').read_text().count('Epoch    0') == 1
    rows_one, rows_two = history(one), history(two)
    assert len(rows_one) == len(rows_two) == 2
    for a, b in zip(rows_one, rows_two):
        for key in ('loss', 'rec', 'reg', 'align'):
            assert float(b[key]) == pytest.approx(float(a[key]), rel=1e-4)


def test_slurm_config_composes_for_an_array(tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base='1.3', config_dir=CONFIG_DIR):
        cfg = compose('train', overrides=['hydra/launcher=slurm',
                                          'hydra.launcher.partition=gpu'],
                      return_hydra_config=True)
    GlobalHydra.instance().clear()
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith('SlurmLauncher')
    assert launcher.partition == 'gpu' and launcher.gpus_per_node == 1
    assert launcher.array_parallelism == 64
    assert launcher.submitit_folder == f'{cfg.hydra.sweep.dir}/.submitit/%j'

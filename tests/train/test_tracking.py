r"""Experiment tracking: TensorBoard and MLflow logs written by a run and
read back; the config they get has no key in it."""
import json

import pytest

from rlmrec_pyg.train.tracking import REDACTED, public_params
from tests.run_helpers import get_cfg, run

KEY = 'sk-' + 'a1B2' * 10  # shaped like an OpenAI key

ARGS = ['alignment=contrastive', 'trainer.max_epochs=3',
        'trainer.eval_every=1', '+extra.api_key=${oc.env:OPENAI_API_KEY}',
        '+extra.note=${oc.env:NOTE}']


def test_public_params_redact_secrets(monkeypatch):
    monkeypatch.setenv('OPENAI_API_KEY', 'plain-secret-value-42')
    params = public_params({
        'profiles': {'api_key': KEY, 'max_tokens': 300,
                     'base_url': 'https://user:pw@host/v1'},
        'note': f'key {KEY} inside', 'token': None, 'password': 'hunter2',
        'clients': [{'api_key': 'hunter3'}, 'plain'],
        'headers': {'Authorization': 'Bearer hf_abc'},
        'env': 'uses plain-secret-value-42 here'})
    assert params == {'profiles.api_key': REDACTED,
                      'profiles.max_tokens': '300',
                      'profiles.base_url': 'https://host/v1',
                      'note': REDACTED, 'token': 'None',
                      'password': REDACTED, 'clients.0.api_key': REDACTED,
                      'clients.1': 'plain',
                      'headers.Authorization': REDACTED, 'env': REDACTED}


def no_key_in(folder):
    for path in folder.rglob('*'):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_tensorboard_logs_read_back(tmp_path, monkeypatch):
    pytest.importorskip('tensorboard')
    from tensorboard.backend.event_processing.event_accumulator import \
        EventAccumulator
    monkeypatch.setenv('OPENAI_API_KEY', KEY)
    monkeypatch.setenv('NOTE', f'the key is {KEY}')
    out = run(get_cfg(tmp_path, ['tracking=tensorboard'] + ARGS))
    events = EventAccumulator(str(tmp_path / 'tensorboard'),
                              size_guidance={'tensors': 0})
    events.Reload()
    scalars = set(events.Tags()['scalars'])
    # Every loss term of Con, per epoch, and the validation metrics.
    for tag in ('train/loss', 'train/rec', 'train/reg', 'train/align',
                'val/recall@20', 'val/ndcg@20'):
        assert [e.step for e in events.Scalars(tag)] == [0, 1, 2], tag
    with open(tmp_path / 'history.csv') as f:
        header = f.readline().strip().split(',')
        first = dict(zip(header, f.readline().strip().split(',')))
    assert events.Scalars('train/align')[0].value == pytest.approx(
        float(first['align']))
    final = events.Scalars('final/test/recall@20')[0].value
    assert final == pytest.approx(out['test/recall@20'])
    assert 'final/best_epoch' in scalars
    text = events.Tensors('config/text_summary')[0].tensor_proto
    config = text.string_val[0].decode()
    assert 'model._target_: rlmrec_pyg.nn.LightGCN' in config
    assert f'extra.api_key: {REDACTED}' in config
    no_key_in(tmp_path)


def test_mlflow_run_read_back(tmp_path, monkeypatch):
    pytest.importorskip('mlflow')
    from mlflow import MlflowClient
    monkeypatch.setenv('OPENAI_API_KEY', KEY)
    monkeypatch.setenv('NOTE', f'the key is {KEY}')
    uri = f'sqlite:///{tmp_path}/store/mlflow.db'
    out = run(get_cfg(tmp_path / 'run', [
        'tracking=mlflow', f'tracking.tracking_uri={uri}'] + ARGS))
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name('rlmrec')
    (found, ) = client.search_runs([experiment.experiment_id])
    assert found.info.status == 'FINISHED'
    assert found.info.run_name == str(tmp_path / 'run')
    params = found.data.params
    assert params['model._target_'] == 'rlmrec_pyg.nn.LightGCN'
    assert params['extra.api_key'] == REDACTED
    assert params['extra.note'] == REDACTED
    assert params['trainer.max_epochs'] == '3'
    run_id = found.info.run_id
    for key in ('loss', 'rec', 'reg', 'align', 'val_recall_20'):
        history = client.get_metric_history(run_id, key)
        assert sorted(m.step for m in history) == [0, 1, 2], key
    with open(tmp_path / 'run' / 'metrics.json') as f:
        metrics = json.load(f)
    assert found.data.metrics['final_test_recall_20'] == pytest.approx(
        metrics['test']['recall@20'])
    assert found.data.metrics['final_test_recall_20'] == pytest.approx(
        out['test/recall@20'])
    no_key_in(tmp_path)


def test_csv_tracking_is_the_default(tmp_path):
    cfg = get_cfg(tmp_path, [])
    assert cfg.tracking._target_ == 'rlmrec_pyg.train.tracking.CSVTracker'

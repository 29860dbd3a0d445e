r"""Experiment tracking: what a run logs besides its ``history.csv`` and
``metrics.json`` (always written): the composed config once, every epoch's
mean loss and loss terms (and the validation metrics of validated epochs),
and the final metrics.

* :class:`CSVTracker`: nothing more (the default);
* :class:`TensorBoardTracker`: scalars and the config as text, through
  :class:`torch.utils.tensorboard.SummaryWriter` (needs ``tensorboard``);
* :class:`MLflowTracker`: parameters, metrics with their epoch as step and
  the final metrics, through :class:`mlflow.MlflowClient` into a local
  store (``sqlite:///.../mlflow.db`` by default; needs ``mlflow-skinny``).

The config a tracker receives is flattened to dotted keys, and a value whose
key names a secret (API keys, tokens, passwords) or that looks like an
OpenAI key is replaced by :obj:`"<redacted>"` (:func:`public_params`), so
that no key reaches a log."""
import numbers
import os
import os.path as osp
import re
import time
from typing import Any, Dict, Mapping, Optional

from rlmrec_pyg.secrets import ENV_KEY, KEY_PATTERN, is_secret_name

REDACTED = '<redacted>'


#: Option names whose values are redacted besides the secret names of
#: :func:`rlmrec_pyg.secrets.is_secret_name` (request headers, credentials).
_HIDDEN_NAME = re.compile(r'authorization|credential|bearer|cookie',
                          re.IGNORECASE)
#: The user and password part of a URL (``https://user:pw@host``).
_URL_USER = re.compile(r'(?<=://)[^/@\s]+@')


def _secret(key: str, text: str) -> bool:
    known = os.environ.get(ENV_KEY)
    return (is_secret_name(key) or bool(_HIDDEN_NAME.search(key))
            or bool(KEY_PATTERN.search(text))
            or bool(known and len(known) >= 8 and known in text))


def public_params(config: Any, prefix: str = '') -> Dict[str, str]:
    r"""Flattens a nested config (mappings and lists) into
    :obj:`{"a.b": "value", "c.0": ...}` strings. Redacted to
    :obj:`"<redacted>"`: the values of keys that name a secret (API keys,
    tokens, passwords, authorization headers, credentials), strings shaped
    like an OpenAI key or holding the value of :obj:`$OPENAI_API_KEY`; the
    user and password of URLs are dropped."""
    out: Dict[str, str] = {}
    items = (config.items() if isinstance(config, Mapping)
             else enumerate(config))
    for key, value in items:
        name = f'{prefix}{key}'
        if isinstance(value, Mapping) or (isinstance(value, (list, tuple))
                                          and value):
            if _secret(str(key), ''):
                out[name] = REDACTED
            else:
                out.update(public_params(value, f'{name}.'))
            continue
        text = _URL_USER.sub('', str(value))
        if value is not None and _secret(str(key), text):
            text = REDACTED
        out[name] = text
    return out


def numeric(row: Mapping[str, Any]) -> Dict[str, float]:
    r"""The entries of :obj:`row` that are numbers (not booleans)."""
    return {k: float(v) for k, v in row.items()
            if isinstance(v, numbers.Real) and not isinstance(v, bool)}


class CSVTracker:
    r"""The default tracker: the run folder's ``history.csv`` (one row per
    epoch) and ``metrics.json`` are all it keeps."""
    def log_params(self, params: Mapping[str, str]) -> None:
        pass

    def log_epoch(self, epoch: int, values: Mapping[str, float]) -> None:
        pass

    def log_result(self, values: Mapping[str, float]) -> None:
        pass

    def close(self) -> None:
        pass


class TensorBoardTracker(CSVTracker):
    r"""Logs to TensorBoard event files in :obj:`log_dir`: every epoch's
    values as scalars (tags such as ``train/loss``, ``train/align``,
    ``val/recall@20``), the final metrics at the last step, the config as
    the text ``config``."""
    def __init__(self, log_dir: str) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise ImportError("tracking=tensorboard needs tensorboard: pip "
                              "install 'rlmrec_pyg[tracking]'") from e
        self.log_dir = log_dir
        self.writer = SummaryWriter(log_dir)
        self.step = 0

    def log_params(self, params: Mapping[str, str]) -> None:
        text = '\n'.join(f'    {k}: {v}' for k, v in sorted(params.items()))
        self.writer.add_text('config', text)

    def log_epoch(self, epoch: int, values: Mapping[str, float]) -> None:
        self.step = epoch
        for key, value in values.items():
            tag = key if '/' in key else f'train/{key}'
            self.writer.add_scalar(tag, value, epoch)
        self.writer.flush()

    def log_result(self, values: Mapping[str, float]) -> None:
        for key, value in values.items():
            self.writer.add_scalar(f'final/{key}', value, self.step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class MLflowTracker(CSVTracker):
    r"""Logs one MLflow run into :obj:`tracking_uri` (a local store by
    default): the config as parameters, every epoch's values as metrics
    with the epoch as step (``loss``, ``align``, ``val_recall_20``, ...),
    the final metrics (``final_test_recall_20``, ``final_best_epoch``,
    ...), and the run's status.

    Args:
        tracking_uri (str): Where the runs go, *e.g.*,
            ``sqlite:///outputs/mlflow.db`` (MLflow 3 refuses the plain
            ``file:`` store unless ``MLFLOW_ALLOW_FILE_STORE=true``).
        experiment_name (str, optional): The MLflow experiment, created when
            missing. (default: :obj:`"rlmrec"`)
        run_name (str, optional): The run's name. (default: :obj:`None`)
    """
    def __init__(self, tracking_uri: str, experiment_name: str = 'rlmrec',
                 run_name: Optional[str] = None) -> None:
        try:
            from mlflow import MlflowClient
        except ImportError as e:
            raise ImportError("tracking=mlflow needs mlflow: pip install "
                              "'rlmrec_pyg[tracking]'") from e
        if tracking_uri.startswith('sqlite:///'):
            folder = osp.dirname(tracking_uri[len('sqlite:///'):])
            os.makedirs(folder or '.', exist_ok=True)
        self.client = MlflowClient(tracking_uri=tracking_uri)
        found = self.client.get_experiment_by_name(experiment_name)
        experiment = (found.experiment_id if found is not None else
                      self.client.create_experiment(experiment_name))
        self.run_id = self.client.create_run(
            experiment, run_name=run_name).info.run_id
        self.step = 0
        self.status = 'FAILED'  # until a result is logged

    @staticmethod
    def _key(name: str) -> str:
        return name.replace('/', '_').replace('@', '_')

    def log_params(self, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param
        items = [Param(k, v[:6000]) for k, v in params.items()]
        for start in range(0, len(items), 100):
            self.client.log_batch(self.run_id,
                                  params=items[start:start + 100])

    def _log(self, values: Mapping[str, float], step: int,
             prefix: str = '') -> None:
        from mlflow.entities import Metric
        now = int(time.time() * 1000)
        metrics = [Metric(prefix + self._key(k), v, now, step)
                   for k, v in values.items()]
        for start in range(0, len(metrics), 100):
            self.client.log_batch(self.run_id,
                                  metrics=metrics[start:start + 100])

    def log_epoch(self, epoch: int, values: Mapping[str, float]) -> None:
        self.step = epoch
        self._log(values, epoch)

    def log_result(self, values: Mapping[str, float]) -> None:
        self._log(values, self.step, 'final_')
        self.status = 'FINISHED'

    def close(self) -> None:
        self.client.set_terminated(self.run_id, self.status)

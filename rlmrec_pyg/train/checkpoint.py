r"""The training checkpoint: tensors and plain containers only, with a
format version, written crash-safely and read without running code."""
import logging
from typing import Any, Dict, Iterable, Mapping, Optional

import torch
from torch import Tensor
from torch.nn import Module

from rlmrec_pyg.io import CorruptFileError, torch_load, torch_save

log = logging.getLogger(__name__)

#: The checkpoint layout written by this version of the library. Version 0
#: is the unversioned layout of earlier releases (same keys).
CHECKPOINT_VERSION = 1
#: Keys of a checkpoint written by :class:`~rlmrec_pyg.train.Trainer`
#: (and :obj:`"cuda_rng"` when it trained on a GPU: :func:`rng_states`).
KEYS = ('model', 'embedding', 'optimizer', 'torch_rng', 'generator',
        'state')
#: The global RNG states a checkpoint may hold.
RNG_KEYS = ('torch_rng', 'cuda_rng')


def save_checkpoint(path: str, **state: Any) -> None:
    r"""Writes :obj:`state` (state dicts, RNG states, counters) with its
    format version to :obj:`path`, crash-safely (a temporary file, fsync,
    then a rename)."""
    torch_save(dict(version=CHECKPOINT_VERSION, **state), path)


def _check_state_dict(value: Any, key: str, path: str) -> None:
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, Tensor)
            for k, v in value.items()):
        raise CorruptFileError(f"The checkpoint '{path}' has no valid "
                               f"'{key}' state (expected a dict of named "
                               f"tensors, got {type(value).__name__})")


def load_checkpoint(path: str, required: Iterable[str] = KEYS,
                    what: str = 'checkpoint') -> Dict[str, Any]:
    r"""Reads a checkpoint written by :func:`save_checkpoint` with
    :func:`rlmrec_pyg.io.torch_load` (:obj:`weights_only=True`) and checks
    its version and the :obj:`required` keys.

    Args:
        path (str): The file.
        required (Iterable[str], optional): Keys it must hold.
            (default: every key the :class:`Trainer` writes)
        what (str, optional): What the file is for, in error messages
            (*e.g.*, :obj:`"'init_from' checkpoint"`).

    Raises:
        rlmrec_pyg.io.UnsafeFileError: The file would run code on load.
        rlmrec_pyg.io.CorruptFileError: It is missing, truncated, from a
            newer version or lacks a required key.
    """
    ckpt = torch_load(path, what)
    if not isinstance(ckpt, dict):
        raise CorruptFileError(f"The {what} '{path}' is not a rlmrec_pyg "
                               f"checkpoint (got a {type(ckpt).__name__})")
    version = ckpt.get('version', 0)
    if not isinstance(version, int) or version > CHECKPOINT_VERSION:
        raise CorruptFileError(
            f"The {what} '{path}' has format version {version!r}; this "
            f"rlmrec_pyg reads versions up to {CHECKPOINT_VERSION} (upgrade "
            f"the package)")
    missing = [key for key in required if key not in ckpt]
    if missing:
        raise CorruptFileError(f"The {what} '{path}' lacks {missing} (keys: "
                               f"{sorted(ckpt)})")
    for key in ('model', 'embedding'):
        if key in ckpt and ckpt[key] is not None:
            _check_state_dict(ckpt[key], key, path)
    for key in RNG_KEYS:
        if key in ckpt:
            _check_rng_state(ckpt[key], key, path)
    return ckpt


def _check_rng_state(value: Any, key: str, path: str) -> None:
    if not isinstance(value, Tensor) or value.dtype != torch.uint8 \
            or value.dim() != 1:
        got = (f'{value.dtype} tensor of shape {list(value.shape)}'
               if isinstance(value, Tensor) else type(value).__name__)
        raise CorruptFileError(f"The checkpoint '{path}' has no valid "
                               f"'{key}' (expected the 1-D uint8 tensor "
                               f"of an RNG state, got {got})")


def rng_states(device: torch.device) -> Dict[str, Tensor]:
    r"""The global RNG states a training run on :obj:`device` draws from,
    to save in its checkpoint: the CPU's (:obj:`"torch_rng"`) and, on a
    CUDA device, that GPU's (:obj:`"cuda_rng"`; edge dropout and noise
    drawn on the device, *e.g.*, SGL's and SimGCL's views)."""
    states = {'torch_rng': torch.get_rng_state()}
    if device.type == 'cuda':
        states['cuda_rng'] = torch.cuda.get_rng_state(device)
    return states


def set_rng_states(ckpt: Mapping[str, Any], device: torch.device,
                   path: str) -> None:
    r"""Restores the states of :func:`rng_states` from the checkpoint
    :obj:`ckpt` (read from :obj:`path`) for a run on :obj:`device`. A
    checkpoint written on the CPU has no GPU state: resumed on a GPU, the
    device's draws then differ from an uninterrupted run's (a warning says
    so)."""
    torch.set_rng_state(ckpt['torch_rng'])
    if device.type != 'cuda':
        return
    if ckpt.get('cuda_rng') is None:
        log.warning(f"The checkpoint '{path}' holds no CUDA RNG state (it "
                    f"was written on the CPU): the draws on {device} "
                    f"(edge dropout, noise) will differ from an "
                    f"uninterrupted run's")
        return
    torch.cuda.set_rng_state(ckpt['cuda_rng'], device)


def load_pretrained(path: str, embedding: Module,
                    model: Optional[Module] = None) -> None:
    r"""Initialises :obj:`embedding` (and the encoder parameters of
    :obj:`model` whose names and shapes match) from a checkpoint written by
    :class:`~rlmrec_pyg.train.Trainer`. Alignment modules of the
    pre-training run (projector, mask token) are dropped: the paper
    (Sec. 4.5, Table 3) initialises the downstream model with the
    pre-trained embeddings only.

    Args:
        path (str): The checkpoint file.
        embedding (torch.nn.Module): The ID embeddings to initialise.
        model (torch.nn.Module, optional): The downstream encoder.
            (default: :obj:`None`)
    """
    ckpt = load_checkpoint(path, required=('embedding', ),
                           what="'init_from' checkpoint")
    embedding.load_state_dict(ckpt['embedding'])
    if model is None or not ckpt.get('model'):
        return
    own = model.state_dict()
    loaded = {}
    for key, value in ckpt['model'].items():
        key = key[len('encoder.'):] if key.startswith('encoder.') else key
        if key in own and own[key].shape == value.shape:
            loaded[key] = value
    model.load_state_dict(loaded, strict=False)
    log.info(f"Initialised from '{path}' (embedding + {len(loaded)} encoder "
             f"tensors)")

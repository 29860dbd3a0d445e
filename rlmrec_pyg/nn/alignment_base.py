r"""Shared parts of the RLMRec alignment wrappers: the official projector
MLP (docs/parity.md#projector-mlp) and the plumbing of
:mod:`rlmrec_pyg.nn.alignment`."""
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch.nn import LeakyReLU, Linear, Module, Sequential
from torch_geometric.data import HeteroData
from torch_geometric.nn.inits import reset
from torch_geometric.typing import EdgeType, NodeType

from rlmrec_pyg.nn.objective import (
    LossTerms,
    Objective,
    TrainBatch,
    alignment_index_of,
    encode_of,
    initialize_of,
    training_graph_of,
)

IndexGroups = Union[Tensor, Sequence[Tensor]]


class _Projector(Module):
    r"""The official two-layer MLP: :obj:`Linear -> LeakyReLU(0.01) ->
    Linear` with hidden width :obj:`(in_channels + out_channels) // 2`,
    Xavier-uniform weights and PyTorch's default biases
    (docs/parity.md#projector-mlp)."""
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.hidden_channels = (in_channels + out_channels) // 2
        self.mlp = Sequential(Linear(in_channels, self.hidden_channels),
                              LeakyReLU(0.01),
                              Linear(self.hidden_channels, out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.mlp[0], self.mlp[2]):
            lin.reset_parameters()  # default bias U(+-1/sqrt(fan_in))
            torch.nn.init.xavier_uniform_(lin.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(x)


def _check_positive(value: float, name: str, owner: Module) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"'{name}' must be a number in "
                        f"'{owner.__class__.__name__}' (got "
                        f"{type(value).__name__})")
    if not value > 0:
        raise ValueError(f"'{name}' must be positive in "
                         f"'{owner.__class__.__name__}' (got {value})")


def _check_channels(value: int, name: str, owner: Module,
                    lazy: bool = False) -> None:
    # lazy: -1 means "inferred later" (PyG's convention).
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"'{name}' must be an int in "
                        f"'{owner.__class__.__name__}' (got "
                        f"{type(value).__name__})")
    if lazy and value == -1:
        return
    if not value > 0:
        hint = ' or -1 (inferred)' if lazy else ''
        raise ValueError(f"'{name}' must be positive{hint} in "
                         f"'{owner.__class__.__name__}' (got {value})")


def _encoder_repr(encoder: Module) -> str:
    text = repr(encoder)
    return text if '\n' not in text else f'{encoder.__class__.__name__}(...)'


class _Alignment(Objective):
    r"""Shared plumbing: the wrapped encoder, sizes inferred lazily
    (:obj:`-1`), delegation of the encoder's contract
    (:class:`~rlmrec_pyg.nn.Objective`), :meth:`reset_parameters` and
    input checks of :meth:`alignment_loss`."""
    def __init__(self, encoder: Module, sem_channels: int, out_channels: int,
                 temperature: float, bf16: bool) -> None:
        super().__init__()
        if not isinstance(encoder, Module):
            raise TypeError(f"'encoder' must be a 'torch.nn.Module' in "
                            f"'{self.__class__.__name__}' (got "
                            f"{type(encoder).__name__})")
        _check_channels(sem_channels, 'sem_channels', self, lazy=True)
        _check_channels(out_channels, 'out_channels', self, lazy=True)
        _check_positive(temperature, 'temperature', self)
        self.encoder = encoder
        self.sem_channels = sem_channels
        self.out_channels = out_channels
        self.temperature = float(temperature)
        self.bf16 = bool(bf16)
        self.projector: Optional[Module] = None

    def lazy(self) -> bool:
        r"""Whether a size is still to be inferred (:meth:`initialize`)."""
        return self.projector is None

    def _build(self) -> None:
        raise NotImplementedError

    def reset_parameters(self) -> None:
        r"""Resets the encoder's and the projector's parameters."""
        reset(self.encoder)
        if self.projector is not None:
            self.projector.reset_parameters()

    def initialize(self, x_dict: Dict[NodeType, Tensor],
                   edge_index_dict: Dict[EdgeType, Tensor],
                   data: HeteroData) -> None:
        r"""Infers the sizes left at :obj:`-1` from :obj:`data` (semantic
        width) and from one forward of the encoder in evaluation mode
        without gradients (its output width), then builds the modules."""
        initialize_of(self.encoder, x_dict, edge_index_dict, data)
        if not self.lazy():
            return
        if self.sem_channels == -1:
            sem = data.sem_emb_dict
            if not sem:
                raise ValueError(f"'{self.__class__.__name__}' infers "
                                 f"'sem_channels' from 'sem_emb' on the "
                                 f"data (got a graph without it)")
            self.sem_channels = int(next(iter(sem.values())).size(-1))
        if self.out_channels == -1:
            training = self.encoder.training
            self.encoder.eval()
            with torch.no_grad():
                z = encode_of(self.encoder, x_dict, edge_index_dict, data)
            self.encoder.train(training)
            self.out_channels = int(next(iter(z.values())).size(-1))
        self._infer(x_dict)
        self._build()
        self.to(next(iter(x_dict.values())).device)

    def _infer(self, x_dict: Dict[NodeType, Tensor]) -> None:
        pass  # Further sizes (RLMRec-Gen: the mask token's width).

    def _ensure_built(self, like: Tensor) -> None:
        # Built at first use when no initialize() ran (as PyG's lazy
        # modules: create the optimizer after a first step or initialize).
        if self.lazy():
            if -1 in (self.sem_channels, self.out_channels):
                raise RuntimeError(
                    f"'{self.__class__.__name__}' has sizes left to infer "
                    f"(-1): build it through Recommender(..., data) or call "
                    f"initialize(x_dict, edge_index_dict, data) first")
            self._build()
            self.to(like.device)

    def forward(self, x_dict: Dict[NodeType, Tensor],
                edge_index_dict: Dict[EdgeType, Tensor],
                **kwargs: Any) -> Dict[NodeType, Tensor]:
        r"""Runs the encoder unchanged and returns its :obj:`z_dict`
        (keyword arguments go to the encoder)."""
        return self.encoder(x_dict, edge_index_dict, **kwargs)

    def training_graph(self, x_dict: Dict[NodeType, Tensor],
                       edge_index_dict: Dict[EdgeType, Tensor],
                       batch: TrainBatch
                       ) -> Tuple[Dict[EdgeType, Tensor], LossTerms]:
        r"""The encoder's (AutoCF's sampled graphs), on the raw input."""
        return training_graph_of(self.encoder, x_dict, edge_index_dict,
                                 batch)

    def encode(self, x_dict: Dict[NodeType, Tensor],
               edge_index_dict: Dict[EdgeType, Tensor],
               data: Optional[HeteroData] = None) -> Dict[NodeType, Tensor]:
        r"""The encoder's evaluation embeddings (no masking)."""
        return encode_of(self.encoder, x_dict, edge_index_dict, data)

    def alignment_index(self, batch: TrainBatch
                        ) -> Dict[NodeType, List[Tensor]]:
        r"""The encoder's (AutoCF: users and positive items)."""
        return alignment_index_of(self.encoder, batch)

    def _autocast(self, like: Tensor) -> torch.autocast:
        # bf16 GEMMs for the projector and the similarity matrices; the
        # softmax / cross-entropy stay in float32 (autocast policy).
        return torch.autocast(like.device.type, dtype=torch.bfloat16,
                              enabled=self.bf16)

    def _rows(self, nt: NodeType, z_dict: Dict[NodeType, Tensor],
              sem_dict: Dict[NodeType, Tensor]) -> List[Tensor]:
        name = self.__class__.__name__
        if nt not in z_dict or nt not in sem_dict:
            raise ValueError(f"Node type '{nt}' of 'index_dict' is missing in "
                             f"'z_dict' or 'sem_dict' in '{name}' (got "
                             f"{sorted(z_dict)} and {sorted(sem_dict)})")
        z, sem = z_dict[nt], sem_dict[nt]
        self._ensure_built(z)
        if z.dim() != 2 or z.size(-1) != self.out_channels:
            raise ValueError(f"Expected 'z_dict' for node type '{nt}' with "
                             f"{self.out_channels} columns in '{name}' (got "
                             f"shape {list(z.size())})")
        if sem.dim() != 2 or sem.size() != (z.size(0), self.sem_channels):
            raise ValueError(f"Expected 'sem_emb' for node type '{nt}' of "
                             f"shape {[z.size(0), self.sem_channels]} in "
                             f"'{name}' (got {list(sem.size())})")
        return [z, sem]


def take_rows(sem: Tensor, index: Optional[Tensor], like: Tensor) -> Tensor:
    r"""The rows :obj:`index` of :obj:`sem` (all if :obj:`None`) on
    :obj:`like`'s device and in its dtype: only the rows a step uses are
    converted and moved, so :obj:`sem_emb` may stay in half precision (or
    memory-mapped) on the host."""
    if index is not None:
        sem = sem[index.to(sem.device)]
    return sem.to(like.device, like.dtype)


def _as_groups(index_dict: Dict[NodeType, IndexGroups], owner: Module,
               skip_empty: bool = False) -> Dict[NodeType, List[Tensor]]:
    # skip_empty: drop node types that select nothing (a random mask may
    # hit one type only) instead of raising; at least one must remain.
    name = owner.__class__.__name__
    if not isinstance(index_dict, dict) or len(index_dict) == 0:
        raise ValueError(f"'index_dict' must be a non-empty dict in '{name}' "
                         f"(got {index_dict!r})")
    out: Dict[NodeType, List[Tensor]] = {}
    for nt, groups in index_dict.items():
        groups = [groups] if isinstance(groups, Tensor) else list(groups)
        for index in groups:
            if not isinstance(index, Tensor) or index.dim() != 1:
                raise TypeError(f"'index_dict' for node type '{nt}' must hold "
                                f"1-D tensors in '{name}' (got "
                                f"{type(index).__name__})")
        out[nt] = [
            index.nonzero().view(-1) if index.dtype == torch.bool else
            index.long() for index in groups
        ]
        if sum(index.numel() for index in out[nt]) == 0:
            if skip_empty:
                del out[nt]
                continue
            raise ValueError(f"'index_dict' selects no node of type '{nt}' "
                             f"in '{name}'")
    if not out:
        raise ValueError(f"'index_dict' selects no node in '{name}'")
    return out

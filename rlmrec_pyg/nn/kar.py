r"""The two non-aligned uses of semantic vectors that RLMRec compares with
(paper Table 1 "semantic embeddings only" and Table 2 KAR)."""
from typing import Any, Dict, Optional, Sequence

import torch
from torch import Tensor
from torch.nn import Module, ModuleDict
from torch_geometric.nn.inits import reset
from torch_geometric.typing import EdgeType, NodeType

from rlmrec_pyg.nn.alignment_base import (
    _check_channels,
    _encoder_repr,
    _Projector,
)


def _check_sem(sem_dict: Any, x_dict: Dict[NodeType, Tensor],
               channels: int, owner: Module) -> None:
    name = owner.__class__.__name__
    if not isinstance(sem_dict, dict):
        raise TypeError(f"'sem_dict' must be a dict of tensors in '{name}' "
                        f"(got {type(sem_dict).__name__}); pass "
                        f"'data.sem_emb_dict'")
    for nt, x in x_dict.items():
        sem = sem_dict.get(nt)
        shape = (x.size(0), channels)
        if sem is None or sem.dim() != 2 or sem.size() != shape:
            got = None if sem is None else list(sem.size())
            raise ValueError(f"Expected 'sem_emb' for node type '{nt}' of "
                             f"shape {[x.size(0), channels]} in '{name}' "
                             f"(got {got})")


class KAR(Module):
    r"""The KAR baseline of Table 2 of the `"Representation Learning with
    Large Language Models for Recommendation"
    <https://arxiv.org/abs/2310.15950>`_ paper, after `"Towards Open-World
    Recommendation with Knowledge Augmentation from Large Language Models"
    <https://arxiv.org/abs/2306.10933>`_: the semantic vectors are fed to the
    encoder as **input features** (not aligned with its output),

    .. math::
        \mathbf{x}'_v = \mathbf{x}_v + \mathrm{MLP}_{t(v)}(\mathbf{s}_v),

    with one adaptor MLP per node type (:obj:`Linear -> LeakyReLU ->
    Linear`, as RLMRec's projector). This is the "knowledge as input
    features" core of KAR only: KAR's hybrid-expert adaptor and its
    reasoning/factual knowledge split are not reproduced. Semantic vectors
    are call-time inputs; a training loop passes them when
    :obj:`requires_sem_emb` is set.

    .. code-block:: python

        model = KAR(LightGCN(32), sem_channels=384, in_channels=32)
        z_dict = model(x_dict, data.edge_index_dict, data.sem_emb_dict)

    Args:
        encoder (torch.nn.Module): Any module mapping :obj:`(x_dict,
            edge_index_dict)` to :obj:`z_dict`.
        sem_channels (int): Size of the semantic (text) embeddings.
        in_channels (int): Size of the encoder's input rows.
        out_channels (int, optional): Size of the encoder's output
            (informational, kept as :obj:`out_channels`).
            (default: :obj:`None`)
        node_types (Tuple[str, ...], optional): Node types with an adaptor.
            (default: :obj:`("user", "item")`)
    """
    requires_sem_emb = True

    def __init__(self, encoder: Module, sem_channels: int, in_channels: int,
                 out_channels: Optional[int] = None,
                 node_types: Sequence[NodeType] = ('user', 'item')) -> None:
        super().__init__()
        _check_channels(sem_channels, 'sem_channels', self)
        _check_channels(in_channels, 'in_channels', self)
        self.encoder = encoder
        self.sem_channels = sem_channels
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.adaptor = ModuleDict({
            nt: _Projector(sem_channels, in_channels)
            for nt in node_types
        })

    def reset_parameters(self) -> None:
        r"""Resets the encoder's and the adaptors' parameters."""
        reset(self.encoder)
        for adaptor in self.adaptor.values():
            adaptor.reset_parameters()

    def inputs(self, x_dict: Dict[NodeType, Tensor],
               sem_dict: Dict[NodeType, Tensor]) -> Dict[NodeType, Tensor]:
        r"""Returns the encoder's inputs :math:`\mathbf{x}'_v`."""
        _check_sem(sem_dict, {nt: x_dict[nt]
                              for nt in self.adaptor}, self.sem_channels, self)
        x_dict = dict(x_dict)
        for nt, adaptor in self.adaptor.items():
            x_dict[nt] = x_dict[nt] + adaptor(sem_dict[nt].to(x_dict[nt]))
        return x_dict

    def forward(self, x_dict: Dict[NodeType, Tensor],
                edge_index_dict: Dict[EdgeType, Tensor],
                sem_dict: Dict[NodeType, Tensor],
                **kwargs: Any) -> Dict[NodeType, Tensor]:
        r"""Runs the encoder on :meth:`inputs` and returns its
        :obj:`z_dict` (keyword arguments go to the encoder)."""
        return self.encoder(self.inputs(x_dict, sem_dict), edge_index_dict,
                            **kwargs)

    def __getattr__(self, name: str) -> Any:
        # Present only when the backbone defines it (SGL+KAR, Table 2): the
        # loop duck-types it.
        if name == 'ssl_loss' and hasattr(self._modules['encoder'], name):
            return self._ssl_loss
        return super().__getattr__(name)

    def _ssl_loss(self, x_dict: Dict[NodeType, Tensor], *args: Any,
                  sem_dict: Dict[NodeType, Tensor], **kwargs: Any) -> Tensor:
        # The backbone's SSL term on the same inputs as its forward.
        return self.encoder.ssl_loss(self.inputs(x_dict, sem_dict), *args,
                                     **kwargs)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({_encoder_repr(self.encoder)}, '
                f'sem_channels={self.sem_channels}, '
                f'in_channels={self.in_channels})')


class SemanticRanker(Module):
    r"""The "semantic embeddings only" row of Table 1 of the
    `"Representation Learning with Large Language Models for Recommendation"
    <https://arxiv.org/abs/2310.15950>`_ paper: an encoder-contract module
    whose output is the semantic vectors themselves, so that an all-rank
    evaluator scores :math:`\hat{y}_{u,i} = \mathbf{s}_u^{\top}
    \mathbf{s}_i` (no training, no parameters; :obj:`x_dict` and the graph
    are ignored).

    .. code-block:: python

        model = SemanticRanker()
        z_dict = model(x_dict, data.edge_index_dict, data.sem_emb_dict)
        evaluate(model, embedding, data, z_dict=z_dict)

    Args:
        normalize (bool, optional): L2-normalise the vectors first (cosine
            scores). (default: :obj:`False`)
    """
    requires_sem_emb = True

    def __init__(self, normalize: bool = False) -> None:
        super().__init__()
        self.normalize = normalize
        self.out_channels = None

    def forward(self, x_dict: Dict[NodeType, Tensor],
                edge_index_dict: Dict[EdgeType, Tensor],
                sem_dict: Dict[NodeType, Tensor]) -> Dict[NodeType, Tensor]:
        if not isinstance(sem_dict, dict) or not sem_dict:
            raise TypeError(f"'sem_dict' must be a non-empty dict of tensors "
                            f"in '{self.__class__.__name__}' (got "
                            f"{type(sem_dict).__name__})")
        channels = next(iter(sem_dict.values())).size(-1)
        _check_sem(sem_dict, x_dict, channels, self)
        return {
            nt: torch.nn.functional.normalize(sem, dim=-1)
            if self.normalize else sem
            for nt, sem in sem_dict.items()
        }

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(normalize={self.normalize})'

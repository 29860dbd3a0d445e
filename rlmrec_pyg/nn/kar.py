r"""The two non-aligned uses of semantic vectors that RLMRec compares with
(paper Table 1 "semantic embeddings only" and Table 2 KAR)."""
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch.nn import Module, ModuleDict
from torch_geometric.data import HeteroData
from torch_geometric.nn.inits import reset
from torch_geometric.typing import EdgeType, NodeType

from rlmrec_pyg.nn.alignment_base import (
    _check_channels,
    _encoder_repr,
    _Projector,
)
from rlmrec_pyg.nn.objective import (
    LossTerms,
    Objective,
    TrainBatch,
    alignment_index_of,
    bpr_terms,
    encode_of,
    initialize_of,
    loss_terms_of,
    training_graph_of,
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


class KAR(Objective):
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
    reasoning/factual knowledge split are not reproduced. The encoder's
    whole objective (its SSL terms too) runs on :math:`\mathbf{x}'`; no
    term is added.

    .. code-block:: python

        model = Recommender(KAR(LightGCN(32)), data, embedding_dim=32)
        z_dict = model(data)  # reads data.sem_emb_dict

    Args:
        encoder (torch.nn.Module): Any module mapping :obj:`(x_dict,
            edge_index_dict)` to :obj:`z_dict`.
        sem_channels (int, optional): Size of the semantic (text)
            embeddings; :obj:`-1` infers it. (default: :obj:`-1`)
        in_channels (int, optional): Size of the encoder's input rows;
            :obj:`-1` infers it. (default: :obj:`-1`)
        out_channels (int, optional): Size of the encoder's output
            (informational, kept as :obj:`out_channels`).
            (default: :obj:`None`)
        node_types (Tuple[str, ...], optional): Node types with an adaptor.
            (default: :obj:`("user", "item")`)
    """
    def __init__(self, encoder: Module, sem_channels: int = -1,
                 in_channels: int = -1, out_channels: Optional[int] = None,
                 node_types: Sequence[NodeType] = ('user', 'item')) -> None:
        super().__init__()
        _check_channels(sem_channels, 'sem_channels', self, lazy=True)
        _check_channels(in_channels, 'in_channels', self, lazy=True)
        self.encoder = encoder
        self.sem_channels = sem_channels
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.node_types = list(node_types)
        self.adaptor: Optional[ModuleDict] = None
        if -1 not in (sem_channels, in_channels):
            self._build()

    def _build(self) -> None:
        self.adaptor = ModuleDict({
            nt: _Projector(self.sem_channels, self.in_channels)
            for nt in self.node_types
        })

    def reset_parameters(self) -> None:
        r"""Resets the encoder's and the adaptors' parameters."""
        reset(self.encoder)
        for adaptor in (self.adaptor or {}).values():
            adaptor.reset_parameters()

    def initialize(self, x_dict: Dict[NodeType, Tensor],
                   edge_index_dict: Dict[EdgeType, Tensor],
                   data: HeteroData) -> None:
        r"""Infers the sizes left at :obj:`-1` from :obj:`data` and
        :obj:`x_dict` and builds the adaptors."""
        if self.adaptor is None:
            sem = data.sem_emb_dict
            if self.sem_channels == -1 and sem:
                self.sem_channels = int(next(iter(sem.values())).size(-1))
            if self.in_channels == -1:
                self.in_channels = int(next(iter(x_dict.values())).size(-1))
            _check_channels(self.sem_channels, 'sem_channels', self)
            self._build()
            self.to(next(iter(x_dict.values())).device)
        initialize_of(self.encoder, self.inputs(x_dict, data.sem_emb_dict),
                      edge_index_dict, data)

    def inputs(self, x_dict: Dict[NodeType, Tensor],
               sem_dict: Dict[NodeType, Tensor]) -> Dict[NodeType, Tensor]:
        r"""Returns the encoder's inputs :math:`\mathbf{x}'_v`."""
        if self.adaptor is None:
            raise RuntimeError(
                f"'{self.__class__.__name__}' has sizes left to infer (-1): "
                f"build it through Recommender(..., data) or call "
                f"initialize(x_dict, edge_index_dict, data) first")
        _check_sem(sem_dict, {nt: x_dict[nt]
                              for nt in self.adaptor}, self.sem_channels, self)
        x_dict = dict(x_dict)
        for nt, adaptor in self.adaptor.items():
            x_dict[nt] = x_dict[nt] + adaptor(sem_dict[nt].to(x_dict[nt]))
        return x_dict

    def forward(self, x_dict: Dict[NodeType, Tensor],
                edge_index_dict: Dict[EdgeType, Tensor],
                sem_dict: Optional[Dict[NodeType, Tensor]] = None,
                **kwargs: Any) -> Dict[NodeType, Tensor]:
        r"""Runs the encoder on :meth:`inputs` (:obj:`sem_dict`: *e.g.*,
        :obj:`data.sem_emb_dict`, required) and returns its :obj:`z_dict`
        (further keyword arguments go to the encoder)."""
        return self.encoder(self.inputs(x_dict, sem_dict), edge_index_dict,
                            **kwargs)

    def loss_terms(self, x_dict: Dict[NodeType, Tensor],
                   edge_index_dict: Dict[EdgeType, Tensor], batch: TrainBatch
                   ) -> Tuple[Dict[NodeType, Tensor], LossTerms]:
        r"""The encoder's objective on :meth:`inputs` (no term added)."""
        return loss_terms_of(self.encoder,
                             self.inputs(x_dict, batch.sem_dict),
                             edge_index_dict, batch)

    def training_graph(self, x_dict: Dict[NodeType, Tensor],
                       edge_index_dict: Dict[EdgeType, Tensor],
                       batch: TrainBatch
                       ) -> Tuple[Dict[EdgeType, Tensor], LossTerms]:
        r"""The encoder's (AutoCF samples on the raw ID embeddings)."""
        return training_graph_of(self.encoder, x_dict, edge_index_dict,
                                 batch)

    def encode(self, x_dict: Dict[NodeType, Tensor],
               edge_index_dict: Dict[EdgeType, Tensor],
               data: Optional[HeteroData] = None) -> Dict[NodeType, Tensor]:
        r"""The encoder's embeddings of :meth:`inputs`, with the semantic
        vectors of :obj:`data`."""
        sem = data.sem_emb_dict if data is not None else None
        return encode_of(self.encoder, self.inputs(x_dict, sem),
                         edge_index_dict, data)

    def alignment_index(self, batch: TrainBatch
                        ) -> Dict[NodeType, List[Tensor]]:
        r"""The encoder's."""
        return alignment_index_of(self.encoder, batch)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({_encoder_repr(self.encoder)}, '
                f'sem_channels={self.sem_channels}, '
                f'in_channels={self.in_channels})')


class SemanticRanker(Objective):
    r"""The "semantic embeddings only" row of Table 1 of the
    `"Representation Learning with Large Language Models for Recommendation"
    <https://arxiv.org/abs/2310.15950>`_ paper: an encoder-contract module
    whose output is the semantic vectors themselves, so that an all-rank
    evaluator scores :math:`\hat{y}_{u,i} = \mathbf{s}_u^{\top}
    \mathbf{s}_i` (no training, no parameters; :obj:`x_dict` and the graph
    are ignored).

    Nothing to train: evaluate it directly, or run
    ``rlmrec-train alignment=semantic_only trainer.max_epochs=0``
    (``experiment=semantic_only_<dataset>``), where it takes the place of
    the configured backbone, which it ignores.

    .. code-block:: python

        model = Recommender(SemanticRanker(), data, embedding_dim=1)
        evaluate(model, data)

    Args:
        encoder (torch.nn.Module, optional): Ignored (so that the alignment
            configs can pass their backbone). (default: :obj:`None`)
        normalize (bool, optional): L2-normalise the vectors first (cosine
            scores). (default: :obj:`False`)
    """
    def __init__(self, encoder: Optional[torch.nn.Module] = None,
                 normalize: bool = False) -> None:
        super().__init__()
        if encoder is not None and not isinstance(encoder, torch.nn.Module):
            raise TypeError(f"'encoder' of 'SemanticRanker' must be a module "
                            f"or None (got {encoder!r}; pass "
                            f"normalize={encoder!r} by name)")
        self.normalize = normalize
        self.out_channels = None

    def encode(self, x_dict: Dict[NodeType, Tensor],
               edge_index_dict: Dict[EdgeType, Tensor],
               data: Optional[HeteroData] = None) -> Dict[NodeType, Tensor]:
        r"""The semantic vectors of :obj:`data`."""
        sem = data.sem_emb_dict if data is not None else None
        return self(x_dict, edge_index_dict, sem_dict=sem)

    def loss_terms(self, x_dict: Dict[NodeType, Tensor],
                   edge_index_dict: Dict[EdgeType, Tensor],
                   batch: TrainBatch) -> Tuple[Dict[NodeType, Tensor],
                                               LossTerms]:
        r"""The BPR term of the semantic scores: a constant (nothing here
        trains), so that a run with epochs reports it and ranks exactly as
        one without."""
        z_dict = self.encode(x_dict, edge_index_dict, batch.data)
        return z_dict, bpr_terms(z_dict, batch)

    def forward(self, x_dict: Dict[NodeType, Tensor],
                edge_index_dict: Dict[EdgeType, Tensor],
                sem_dict: Optional[Dict[NodeType, Tensor]] = None,
                **kwargs: Any) -> Dict[NodeType, Tensor]:
        r"""Returns :obj:`sem_dict` (normalised with
        :obj:`normalize=True`)."""
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

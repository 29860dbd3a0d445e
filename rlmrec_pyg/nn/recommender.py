r"""ID embeddings and an encoder as the one module a trainer trains."""
from typing import Iterable, Optional

import torch
from torch import Tensor
from torch.nn import Module
from torch.nn.parameter import UninitializedParameter
from torch_geometric.data import HeteroData

from rlmrec_pyg.nn.embedding import NodeEmbedding
from rlmrec_pyg.nn.functional import l2_reg
from rlmrec_pyg.nn.objective import (
    LossTerms,
    TensorDict,
    TrainBatch,
    encode_of,
    initialize_of,
    loss_terms_of,
    training_graph_of,
)
from rlmrec_pyg.typing import ITEM, USER

#: Which parameters the :obj:`"reg"` term covers.
REG_MODES = ('all', 'batch')


class Recommender(Module):
    r"""A recommender: learnable ID embeddings :math:`\mathbf{E}^{(0)}`
    (:class:`~rlmrec_pyg.nn.NodeEmbedding`) fed to an encoder ``(x_dict,
    edge_index_dict) -> z_dict``, scoring :math:`\hat{y}_{u,i} =
    \mathbf{z}_u^{\top} \mathbf{z}_i`. The encoder is any module: a
    backbone of :mod:`rlmrec_pyg.nn`, an alignment wrapper around one, or
    your own ``to_hetero`` GNN (trained with BPR). This is what
    :class:`~rlmrec_pyg.train.Trainer` and
    :func:`~rlmrec_pyg.train.evaluate` take.

    :meth:`loss_terms` returns the unweighted terms of a batch: the
    encoder's (see :class:`~rlmrec_pyg.nn.Objective`) and :obj:`"reg"`,
    the squared L2 norm :math:`\sum_{\theta} \|\theta\|_F^2` of every
    parameter (:obj:`reg="all"`, official) or of the batch's ID embedding
    rows (:obj:`reg="batch"`, PyG's
    :meth:`~torch_geometric.nn.models.LightGCN.recommendation_loss`).

    .. code-block:: python

        model = Recommender(ContrastiveAlignment(LightGCN(32)), data,
                            embedding_dim=32)
        z_dict = model(data)

    Args:
        encoder (torch.nn.Module): The encoder.
        data (torch_geometric.data.HeteroData, optional): The graph: its
            node counts size the embedding tables, and sizes the encoder
            left to infer (:obj:`-1`, *e.g.*, an alignment wrapper's
            projector, or a PyG model with :obj:`in_channels=-1`) are
            materialised from it, so that an optimizer created next sees
            every parameter. (default: :obj:`None`)
        embedding_dim (int, optional): Width of the ID embeddings (with
            :obj:`data`). (default: :obj:`None`)
        embedding (NodeEmbedding, optional): ID embeddings built by the
            caller, instead of :obj:`data` and :obj:`embedding_dim`.
            (default: :obj:`None`)
    """
    def __init__(self, encoder: Module, data: Optional[HeteroData] = None,
                 embedding_dim: Optional[int] = None,
                 embedding: Optional[NodeEmbedding] = None) -> None:
        super().__init__()
        name = self.__class__.__name__
        if not isinstance(encoder, Module):
            raise TypeError(f"'encoder' must be a 'torch.nn.Module' in "
                            f"'{name}' (got {type(encoder).__name__})")
        if embedding is None:
            if data is None or embedding_dim is None:
                raise ValueError(f"'{name}' needs 'data' and "
                                 f"'embedding_dim', or an 'embedding' (got "
                                 f"data={type(data).__name__}, "
                                 f"embedding_dim={embedding_dim!r})")
            embedding = NodeEmbedding(
                {nt: int(data[nt].num_nodes)
                 for nt in data.node_types}, embedding_dim)
        elif not isinstance(embedding, NodeEmbedding):
            raise TypeError(f"'embedding' must be a 'NodeEmbedding' in "
                            f"'{name}' (got {type(embedding).__name__})")
        self.embedding = embedding
        self.encoder = encoder
        if data is not None:
            self.check_sizes(data)
            initialize_of(encoder, embedding(), data.edge_index_dict, data)
            if any(isinstance(p, UninitializedParameter)
                   for p in self.parameters()):
                # PyG's lazy modules (in_channels=-1) take their shapes from
                # a first forward, before an optimizer sees them.
                training = self.training
                self.eval()
                with torch.no_grad():
                    self(data)
                self.train(training)

    def check_sizes(self, data: HeteroData) -> None:
        r"""Raises a :class:`ValueError` when the embedding tables and the
        graph disagree on a node count."""
        sizes = self.embedding.num_nodes_dict
        for node_type in data.node_types:
            if sizes.get(node_type) != data[node_type].num_nodes:
                raise ValueError(
                    f"The embedding has {sizes.get(node_type)} rows for node "
                    f"type '{node_type}' but the graph has "
                    f"{data[node_type].num_nodes} nodes")

    def forward(self, data: HeteroData) -> TensorDict:
        r"""Returns the embeddings :obj:`z_dict` of every node of
        :obj:`data` (evaluation mode: no edge dropout or masking)."""
        return encode_of(self.encoder, self.embedding(),
                         data.edge_index_dict, data)

    def regularised(self, x_dict: TensorDict, batch: TrainBatch,
                    reg: str) -> Iterable[Tensor]:
        r"""The tensors the :obj:`"reg"` term covers."""
        if reg == 'all':  # the encoder's parameters first (official order)
            return [*self.encoder.parameters(), *self.embedding.parameters()]
        if reg == 'batch':
            return [x_dict[USER][batch.user], x_dict[ITEM][batch.pos],
                    x_dict[ITEM][batch.neg]]
        raise ValueError(f"Unknown 'reg' '{reg}' (choose from "
                         f"{list(REG_MODES)})")

    def loss_terms(self, batch: TrainBatch, reg: str = 'all') -> LossTerms:
        r"""Returns the unweighted, named loss terms of one batch of
        triples: the encoder's (:obj:`"rec"`, its own), :obj:`"reg"` and
        the terms of drawing the step's graph (AutoCF). When
        :obj:`batch.data` is a sampled subgraph (its node types carry the
        global ids :obj:`n_id`, as PyG's loaders give them), the encoder
        runs on the subgraph with its nodes' ID embedding rows, and the
        triples are subgraph-local.

        Args:
            batch (TrainBatch): The triples and their context.
            reg (str, optional): :obj:`"all"` or :obj:`"batch"`.
                (default: :obj:`"all"`)
        """
        if batch.data is None:
            raise ValueError("'batch.data' must hold the graph")
        x_dict = self.embedding()
        if all('n_id' in batch.data[nt] for nt in x_dict):
            # A sampled subgraph: its nodes' rows, by global id.
            x_dict = {nt: x[batch.data[nt].n_id] for nt, x in x_dict.items()}
        graph, extra = training_graph_of(self.encoder, x_dict,
                                         batch.data.edge_index_dict, batch)
        _, terms = loss_terms_of(self.encoder, x_dict, graph, batch)
        out = {'rec': terms.pop('rec')}
        out['reg'] = l2_reg(self.regularised(x_dict, batch, reg))
        out.update(terms)
        out.update(extra)
        return out

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.encoder.__class__.__name__}'
                f', {self.embedding.num_nodes_dict}, embedding_dim='
                f'{self.embedding.embedding_dim})')

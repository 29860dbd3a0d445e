r"""A PyG GNN on the user-item graph through
:func:`torch_geometric.nn.to_hetero`, buildable from a config."""
from typing import Optional

from torch.nn import Module
from torch_geometric.nn import to_hetero
from torch_geometric.typing import Metadata


def to_hetero_encoder(module: Module, metadata: Metadata, aggr: str = 'sum',
                      embedding_dim: Optional[int] = None) -> Module:
    r"""Returns :obj:`to_hetero(module, metadata, aggr)`: a homogeneous GNN
    (*e.g.*, :class:`~torch_geometric.nn.models.GraphSAGE` with
    :obj:`in_channels=-1`) turned into an encoder ``(x_dict,
    edge_index_dict) -> z_dict`` of the bipartite graph. It needs no method
    of ours: it trains on BPR (and under any alignment wrapper) as is.

    A config with :obj:`_partial_: true` gets :obj:`metadata` from the run
    (``conf/model/graphsage.yaml``).

    Args:
        module (torch.nn.Module): The homogeneous GNN.
        metadata (Tuple[List[str], List[Tuple[str, str, str]]]): The graph's
            node and edge types (:meth:`HeteroData.metadata`).
        aggr (str, optional): How messages of several edge types are
            combined. (default: :obj:`"sum"`)
        embedding_dim (int, optional): The width of the ID embeddings of
            the run (read by the run; the GNN infers its input width).
            (default: :obj:`None`)
    """
    return to_hetero(module, metadata, aggr=aggr)

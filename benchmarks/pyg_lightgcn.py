r"""PyG's own :class:`torch_geometric.nn.models.LightGCN` behind the encoder
contract, so the same loop, split and evaluator train it (for benchmarks)."""
from typing import Dict

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.nn.models import LightGCN as PyGLightGCN

from rlmrec_pyg.typing import EDGE, ITEM, USER


class NoEmbedding(torch.nn.Module):
    r"""Stands in for :class:`NodeEmbedding`: PyG's model owns its table."""
    def forward(self) -> Dict[str, Tensor]:
        return {}


class PyGLightGCNEncoder(torch.nn.Module):
    r"""Runs :meth:`PyGLightGCN.get_embedding` on the homogeneous
    (both-direction, items offset by :obj:`num_users`) training graph, with
    :obj:`alpha = 1` per layer (the layer-sum readout RLMRec uses). PyG's
    model has no edge dropout and normalises the graph in every layer."""
    def __init__(self, data: HeteroData, embedding_dim: int = 32,
                 num_layers: int = 3) -> None:
        super().__init__()
        self.num_users = data[USER].num_nodes
        num_nodes = self.num_users + data[ITEM].num_nodes
        self.model = PyGLightGCN(num_nodes, embedding_dim, num_layers,
                                 alpha=torch.ones(num_layers + 1))
        self.out_channels = embedding_dim

    def forward(self, x_dict: Dict[str, Tensor],
                edge_index_dict: Dict) -> Dict[str, Tensor]:
        user, item = edge_index_dict[EDGE]
        item = item + self.num_users
        edge_index = torch.stack(
            [torch.cat([user, item]),
             torch.cat([item, user])])
        out = self.model.get_embedding(edge_index)
        return {USER: out[:self.num_users], ITEM: out[self.num_users:]}

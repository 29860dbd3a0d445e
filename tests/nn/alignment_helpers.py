r"""Tiny encoders obeying the contract ``(x_dict, edge_index_dict) ->
z_dict`` for the wrapper tests."""
from typing import Dict

import torch
from torch import Tensor
from torch_geometric.utils import scatter

from rlmrec_pyg.nn import Objective
from rlmrec_pyg.typing import EDGE, ITEM, REV_EDGE, USER


class TinyEncoder(Objective):
    r"""One mean-aggregation hop plus a shared linear map, trained on the
    default objective (BPR); :meth:`loss_terms` records the input it was
    trained on in :obj:`seen`."""
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(in_channels, out_channels)
        self.seen: Dict[str, Tensor] = {}

    def forward(self, x_dict: Dict[str, Tensor],
                edge_index_dict: Dict[tuple, Tensor]) -> Dict[str, Tensor]:
        out = {}
        for (src, _, dst) in (EDGE, REV_EDGE):
            et = EDGE if src == USER else REV_EDGE
            row, col = edge_index_dict[et]
            agg = scatter(x_dict[src][row], col, 0, x_dict[dst].size(0),
                          reduce='mean')
            out[dst] = self.lin(x_dict[dst] + agg)
        return out

    def loss_terms(self, x_dict, edge_index_dict, batch):
        self.seen = x_dict
        return super().loss_terms(x_dict, edge_index_dict, batch)


class TinySSLEncoder(TinyEncoder):
    r"""A :class:`TinyEncoder` with a self-supervised term of its own, as a
    backbone of :mod:`rlmrec_pyg.nn`: :obj:`"ssl"` is the mean squared
    item input, :func:`tiny_ssl`."""
    def loss_terms(self, x_dict, edge_index_dict, batch):
        z_dict, terms = super().loss_terms(x_dict, edge_index_dict, batch)
        terms['ssl'] = tiny_ssl(x_dict)
        return z_dict, terms


def tiny_ssl(x_dict: Dict[str, Tensor]) -> Tensor:
    return x_dict[ITEM].pow(2).mean()


def id_embeddings(data, channels: int, seed: int = 0) -> Dict[str, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        nt: torch.nn.Parameter(
            torch.randn(data[nt].num_nodes, channels, generator=gen))
        for nt in data.node_types
    }


def mlp(model, nt, sem):
    # x + MLP(s), the MLP written out from its weights (Linear ->
    # LeakyReLU(0.01) -> Linear), independent of the adaptor's forward.
    first, last = model.adaptor[nt].mlp[0], model.adaptor[nt].mlp[2]
    hidden = sem @ first.weight.t() + first.bias
    hidden = torch.where(hidden > 0, hidden, 0.01 * hidden)
    return hidden @ last.weight.t() + last.bias

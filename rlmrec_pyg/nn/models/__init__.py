r"""Graph backbones: :obj:`forward(x_dict, edge_index_dict) -> z_dict`."""
from rlmrec_pyg.nn.models.gccf import GCCF
from rlmrec_pyg.nn.models.lightgcn import LightGCN

__all__ = ['LightGCN', 'GCCF']

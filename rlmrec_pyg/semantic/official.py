r"""The official RLMRec semantic vectors (``usr_emb_np.pkl`` /
``itm_emb_np.pkl``, text-embedding-ada-002 of the profiles;
docs/parity.md#semantic-encoder),
used as-is."""
from typing import Sequence

from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from rlmrec_pyg.typing import ITEM, SEM_EMB, USER, NodeType


class OfficialSemantic(BaseTransform):
    r"""Keeps the official pre-computed semantic vectors that
    :class:`~rlmrec_pyg.data.RLMRecDataset` attaches as :obj:`sem_emb`
    when the official embedding pickles are in its raw folder, and raises a
    clear error when they are not (they ship only in the official
    ``data.zip``). The selectable counterpart of :class:`AttachSemantic`
    for the ``semantic`` config group.

    Args:
        node_types (List[str], optional): Node types that need vectors.
            (default: :obj:`['user', 'item']`)
    """
    def __init__(self,
                 node_types: Sequence[NodeType] = (USER, ITEM)) -> None:
        self.node_types = list(node_types)

    def forward(self, data: HeteroData) -> HeteroData:
        r"""Checks that :obj:`data` holds the release's vectors as
        :obj:`sem_emb` and returns it."""
        missing = [t for t in self.node_types if SEM_EMB not in data[t]]
        if missing:
            raise ValueError(
                f"Expected the official 'sem_emb' on node types {missing} in "
                f"'{self.__class__.__name__}': put 'usr_emb_np.pkl' and "
                f"'itm_emb_np.pkl' from the official data.zip into the "
                f"dataset's raw folder, or compute vectors from profiles "
                f"with 'semantic=minilm'")
        return data

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}()'

r"""The base of the datasets: PyG's :class:`InMemoryDataset` whose
``processed/`` folder is read without running code."""
import os.path as osp
from typing import Sequence, Type

from torch_geometric.data import HeteroData, InMemoryDataset
from torch_geometric.data.data import BaseData

from rlmrec_pyg.io import CorruptFileError, torch_load, torch_save


class SafeInMemoryDataset(InMemoryDataset):
    r"""An :class:`~torch_geometric.data.InMemoryDataset` that never hands a
    file of its ``processed/`` folder to an unsafe reader.

    PyG reads :obj:`processed/pre_transform.pt` and :obj:`pre_filter.pt`
    with :obj:`torch.load(weights_only=False)`, and :meth:`load` falls back
    to it when a weights-only load fails: a crafted dataset folder would
    run code. Here every processed file is read with
    :func:`rlmrec_pyg.io.torch_load` (:obj:`weights_only=True`, no fallback)
    first, and a file that names code to run raises
    :class:`~rlmrec_pyg.io.UnsafeFileError` before anything else reads it.
    The processed graph is written crash-safely (a temporary file, fsync,
    rename).
    """
    def _process(self) -> None:
        for name in ('pre_transform.pt', 'pre_filter.pt'):
            path = osp.join(self.processed_dir, name)
            if osp.exists(path):
                # Refuses a hostile file; PyG's own read below then sees
                # a file that holds a plain string.
                torch_load(path, f"processed file of {type(self).__name__}")
        super()._process()

    @classmethod
    def save(cls, data_list: Sequence[BaseData], path: str) -> None:
        r"""Writes the collated :obj:`data_list` to :obj:`path` as PyG
        does, crash-safely (:func:`rlmrec_pyg.io.torch_save`)."""
        data, slices = cls.collate(data_list)
        torch_save((data.to_dict(), slices, data.__class__), path)

    def load(self, path: str, data_cls: Type[BaseData] = HeteroData) -> None:
        r"""Loads the processed graph at :obj:`path` with
        :obj:`weights_only=True`."""
        what = f"processed file of {type(self).__name__}"
        out = torch_load(path, what)
        if not (isinstance(out, tuple) and len(out) == 3
                and isinstance(out[0], dict) and out[2] is data_cls):
            raise CorruptFileError(
                f"The {what} '{path}' does not hold a {data_cls.__name__} "
                f"as written by this dataset; delete the folder "
                f"'{osp.dirname(path)}' (or pass force_reload=True) to "
                f"process the raw files again")
        data, self.slices, _ = out
        self.data = data_cls.from_dict(data)

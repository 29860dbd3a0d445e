r"""Semantic vectors may stay in half precision: the wrappers convert only
the rows a step uses, and the loss equals the float32 one on the same
(exactly representable) values."""
import pytest
import torch
from alignment_helpers import TinyEncoder, id_embeddings

from rlmrec_pyg.nn import ContrastiveAlignment, MaskedGenerativeAlignment
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.typing import ITEM, USER


@pytest.mark.parametrize('negatives', ['all', 'in_batch'])
def test_contrastive_with_half_vectors(negatives):
    data = get_random_rec_data(sem_channels=12)
    half = {nt: v.half() for nt, v in data.sem_emb_dict.items()}
    full = {nt: v.float() for nt, v in half.items()}
    torch.manual_seed(0)
    model = ContrastiveAlignment(TinyEncoder(8, 6), 12, 6,
                                 negatives=negatives)
    z = model.encoder(id_embeddings(data, 8), data.edge_index_dict)
    index = {USER: torch.tensor([0, 1, 1, 5]), ITEM: [torch.tensor([2, 3]),
                                                      torch.tensor([4, 2])]}
    a = model.alignment_loss(z, half, index)
    b = model.alignment_loss(z, full, index)
    assert a.dtype == torch.float32
    assert torch.equal(a, b)
    a.backward()


def test_generative_with_half_vectors():
    data = get_random_rec_data(sem_channels=12)
    half = {nt: v.half() for nt, v in data.sem_emb_dict.items()}
    full = {nt: v.float() for nt, v in half.items()}
    model = MaskedGenerativeAlignment(TinyEncoder(8, 6), 8, 12, 6,
                                      mask_ratio=0.3)
    mask = model.sample_mask({USER: 20, ITEM: 30},
                             torch.Generator().manual_seed(0))
    z = model(id_embeddings(data, 8), data.edge_index_dict, mask)
    assert torch.equal(model.alignment_loss(z, half, mask),
                       model.alignment_loss(z, full, mask))

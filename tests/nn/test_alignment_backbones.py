import pytest
import torch
from alignment_helpers import id_embeddings

from rlmrec_pyg.nn import (
    GCCF,
    SGL,
    ContrastiveAlignment,
    LightGCN,
    MaskedGenerativeAlignment,
    TrainBatch,
)
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.typing import ITEM, USER


@pytest.mark.parametrize('backbone', [
    lambda: LightGCN(16, num_layers=2),
    lambda: GCCF(16, num_layers=2, self_loops=False),
    lambda: SGL(16, num_layers=2),
])
@pytest.mark.parametrize('kind', ['con', 'gen'])
def test_wrappers_around_our_backbones(backbone, kind):
    data = get_random_rec_data(sem_channels=24)
    encoder = backbone()
    width = encoder.out_channels  # 48 for GCCF: concatenated readout
    if kind == 'con':
        model = ContrastiveAlignment(encoder, 24, width,
                                     negatives={USER: 'all'})
    else:
        model = MaskedGenerativeAlignment(encoder, 16, 24, width)
    x_dict = id_embeddings(data, 16)
    index = {USER: [torch.tensor([0, 1, 1])], ITEM: [torch.tensor([2, 5])]}
    if kind == 'gen':
        index = model.sample_mask({USER: 20, ITEM: 30},
                                  torch.Generator().manual_seed(0))
        z = model(x_dict, data.edge_index_dict, index)
    else:
        z = model(x_dict, data.edge_index_dict)
    assert z[USER].size() == (20, width) and z[ITEM].size() == (30, width)
    loss = model.alignment_loss(z, data.sem_emb_dict, index)
    # The step's terms: the backbone's own (SGL's 'ssl' kept), then 'align'.
    batch = TrainBatch(torch.tensor([0, 1]), torch.tensor([2, 3]),
                       torch.tensor([4, 5]), data,
                       torch.Generator().manual_seed(0))
    _, terms = model.loss_terms(x_dict, data.edge_index_dict, batch)
    ssl = ['ssl'] if isinstance(encoder, SGL) else []
    assert list(terms) == ['rec', *ssl, 'align']
    loss = loss + sum(terms.values())
    loss.backward()
    assert x_dict[USER].grad is not None
    assert all(p.grad is not None for p in model.projector.parameters())
    model.eval()
    z1 = model(x_dict, data.edge_index_dict)
    z2 = model(x_dict, data.edge_index_dict)
    assert torch.equal(z1[USER], z2[USER])

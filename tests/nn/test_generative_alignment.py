import math

import pytest
import torch
from alignment_helpers import TinyEncoder, TinySSLEncoder, id_embeddings
from torch_geometric.nn import GraphSAGE, to_hetero

from rlmrec_pyg.nn import MaskedGenerativeAlignment, TrainBatch
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.typing import ITEM, USER


def cos(a, b):
    return float(a @ b / (a.norm() * b.norm()))


def setup(reconstruction='info_nce', ratio=0.2):
    torch.manual_seed(0)
    data = get_random_rec_data(sem_channels=12)
    model = MaskedGenerativeAlignment(TinyEncoder(8, 6), 8, 12, 6,
                                      mask_ratio=ratio, temperature=0.4,
                                      reconstruction=reconstruction)
    num_nodes = {USER: 20, ITEM: 30}
    mask = model.sample_mask(num_nodes, torch.Generator().manual_seed(1))
    return data, model, id_embeddings(data, 8), mask


def test_sample_mask_is_joint_and_sized():
    data, model, _, mask = setup(ratio=0.15)
    assert mask[USER].dtype == torch.bool and mask[USER].numel() == 20
    assert int(mask[USER].sum() + mask[ITEM].sum()) == math.floor(50 * 0.15)
    # One pool: the per-type split varies between draws.
    counts = {
        int(model.sample_mask({USER: 20, ITEM: 30})[USER].sum())
        for _ in range(50)
    }
    assert len(counts) > 2
    again = model.sample_mask({USER: 20, ITEM: 30},
                              torch.Generator().manual_seed(1))
    assert all(torch.equal(again[nt], setup(ratio=0.15)[3][nt])
               for nt in again)
    model.mask_ratio = 0.001
    tiny = model.sample_mask({USER: 2, ITEM: 3})
    assert int(tiny[USER].sum() + tiny[ITEM].sum()) == 1


def test_max_masked_bounds_the_masked_set():
    capped = MaskedGenerativeAlignment(TinyEncoder(8, 6), 8, 12, 6,
                                       mask_ratio=0.5, max_masked=7)
    for sizes in ({USER: 20, ITEM: 30}, {USER: 2000, ITEM: 3000}):
        mask = capped.sample_mask(sizes, torch.Generator().manual_seed(0))
        assert int(mask[USER].sum() + mask[ITEM].sum()) == 7
    # Below the cap the paper's count stands.
    small = capped.sample_mask({USER: 4, ITEM: 6})
    assert int(small[USER].sum() + small[ITEM].sum()) == 5
    assert 'max_masked=7' in repr(capped)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="'max_masked' must be a "
                           "positive integer or None"):
            MaskedGenerativeAlignment(TinyEncoder(8, 6), max_masked=bad)


@pytest.mark.parametrize('reconstruction', ['info_nce', 'cosine'])
def test_generative_matches_naive_loop(reconstruction):
    data, model, x_dict, mask = setup(reconstruction)
    z = model(x_dict, data.edge_index_dict, mask)
    # The encoder saw the token in masked rows (token is zero at init).
    ref = model.encoder(
        {nt: x * (~mask[nt]).float().view(-1, 1)
         for nt, x in x_dict.items()}, data.edge_index_dict)
    assert all(torch.allclose(z[nt], ref[nt]) for nt in z)
    loss = model.alignment_loss(z, data.sem_emb_dict, mask)
    # Naive: all masked users and items in one set (stacked users first).
    h = [z[nt][i] for nt in (USER, ITEM) for i in mask[nt].nonzero().view(-1)]
    s = [data[nt].sem_emb[i] for nt in (USER, ITEM)
         for i in mask[nt].nonzero().view(-1)]
    with torch.no_grad():
        g = [model.projector(row) for row in h]
    expected = 0.0
    for r in range(len(h)):
        if reconstruction == 'cosine':
            expected -= cos(g[r], s[r])
            continue
        den = sum(math.exp(cos(g[r], s[c]) / 0.4) for c in range(len(s)))
        expected += -math.log(math.exp(cos(g[r], s[r]) / 0.4) / den)
    assert math.isclose(loss.item(), expected / len(h), rel_tol=1e-5)


def test_generative_gradients_and_eval():
    data, model, x_dict, mask = setup()
    z = model(x_dict, data.edge_index_dict, mask)
    loss = model.alignment_loss(z, data.sem_emb_dict, mask) + z[USER].sum()
    loss.backward()
    for p in [x_dict[USER], x_dict[ITEM], model.encoder.lin.weight,
              model.mask_token, *model.projector.parameters()]:
        assert p.grad is not None and p.grad.abs().sum() > 0
    # Masked rows get no gradient into their ID embedding.
    assert x_dict[USER].grad[mask[USER]].abs().sum() < x_dict[USER].grad[
        ~mask[USER]].abs().sum()
    model.bf16 = True
    out = model.alignment_loss(z, data.sem_emb_dict, mask)
    assert out.dtype == torch.float32
    assert math.isclose(out.item(), loss.item() - z[USER].sum().item(),
                        rel_tol=5e-2)
    model.eval()
    z1 = model(x_dict, data.edge_index_dict)
    z2 = model(x_dict, data.edge_index_dict)
    z3 = model.encoder(x_dict, data.edge_index_dict)
    assert torch.equal(z1[ITEM], z2[ITEM]) and torch.equal(z1[ITEM], z3[ITEM])
    z4 = model.encode(x_dict, data.edge_index_dict, data)
    assert torch.equal(z4[ITEM], z3[ITEM])


def test_generative_encoder_terms_see_the_masked_input():
    # The encoder's whole objective (BPR and its 'ssl') runs on the masked
    # input, drawn from the batch's generator; then 'align' over the mask.
    torch.manual_seed(0)
    data = get_random_rec_data(sem_channels=12)
    encoder = TinySSLEncoder(8, 6)
    model = MaskedGenerativeAlignment(encoder, 8, 12, 6, mask_ratio=0.2)
    assert not hasattr(model, 'ssl_loss')
    with torch.no_grad():
        model.mask_token.fill_(7.0)
    x_dict = id_embeddings(data, 8)
    batch = TrainBatch(torch.tensor([0, 3]), torch.tensor([1, 2]),
                       torch.tensor([4, 0]), data,
                       torch.Generator().manual_seed(3))
    z, terms = model.loss_terms(x_dict, data.edge_index_dict, batch)
    assert list(terms) == ['rec', 'ssl', 'align']
    mask = model.sample_mask({USER: 20, ITEM: 30},
                             torch.Generator().manual_seed(3))
    for nt in (USER, ITEM):
        seen = encoder.seen[nt]
        assert bool((seen[mask[nt]] == 7.0).all())
        assert torch.equal(seen[~mask[nt]], x_dict[nt][~mask[nt]])
    expected = float((encoder.seen[ITEM].detach()**2).sum()) / (30 * 8)
    assert math.isclose(terms['ssl'].item(), expected, rel_tol=1e-6)
    masked = model(x_dict, data.edge_index_dict, mask)
    assert torch.equal(z[USER], masked[USER])
    assert torch.equal(terms['align'],
                       model.alignment_loss(masked, data.sem_emb_dict, mask))


def test_generative_to_hetero_graphsage_repr_reset():
    data = get_random_rec_data(sem_channels=8)
    gnn = to_hetero(GraphSAGE(-1, 16, num_layers=2), data.metadata())
    model = MaskedGenerativeAlignment(gnn, 16, 8, 16)
    x_dict = id_embeddings(data, 16)
    mask = model.sample_mask({USER: 20, ITEM: 30})
    loss = model.alignment_loss(model(x_dict, data.edge_index_dict, mask),
                                data.sem_emb_dict, mask)
    assert loss.dim() == 0 and loss > 0
    assert str(model) == (
        'MaskedGenerativeAlignment(GraphModule(...), in_channels=16, '
        'sem_channels=8, out_channels=16, mask_ratio=0.1, temperature=0.2, '
        "reconstruction='info_nce')")
    with torch.no_grad():
        model.mask_token.fill_(1.0)
    model.reset_parameters()
    assert model.mask_token.abs().sum() == 0


def test_generative_errors():
    enc = TinyEncoder(8, 6)
    with pytest.raises(ValueError, match=r"'mask_ratio' must lie in \(0, 1\)"):
        MaskedGenerativeAlignment(enc, 8, 12, 6, mask_ratio=1.5)
    with pytest.raises(ValueError, match="'reconstruction' must be one of"):
        MaskedGenerativeAlignment(enc, 8, 12, 6, reconstruction='mse')
    data, model, x_dict, mask = setup()
    with pytest.raises(ValueError, match="Expected a boolean 'mask_dict'"):
        model(x_dict, data.edge_index_dict, {USER: torch.ones(3).bool()})
    with pytest.raises(ValueError, match="selects no node in"):
        model.alignment_loss(model(x_dict, data.edge_index_dict),
                             data.sem_emb_dict, {USER: torch.zeros(20).bool()})
    # A mask that hits one node type only: the empty type is skipped.
    z = model(x_dict, data.edge_index_dict)
    only_user = {USER: torch.arange(20) < 3, ITEM: torch.zeros(
        x_dict[ITEM].size(0), dtype=torch.bool)}
    assert torch.allclose(
        model.alignment_loss(z, data.sem_emb_dict, only_user),
        model.alignment_loss(z, data.sem_emb_dict, {USER: only_user[USER]}))

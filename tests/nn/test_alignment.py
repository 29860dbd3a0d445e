import math

import pytest
import torch
from alignment_helpers import TinyEncoder, TinySSLEncoder, id_embeddings
from torch_geometric.nn import GraphSAGE, to_hetero

from rlmrec_pyg.nn import ContrastiveAlignment, TrainBatch
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.typing import ITEM, USER


def cos(a, b):
    return float(a @ b / (a.norm() * b.norm()))


def naive_nce(anchor, cands, target, tau):
    # Paper Eq. 18 / official cal_infonce_loss, one row at a time, mean.
    total = 0.0
    for r, t in enumerate(target):
        den = sum(math.exp(cos(anchor[r], c) / tau) for c in cands)
        total += -cos(anchor[r], cands[t]) / tau + math.log(den)
    return total / len(target)


def setup(negatives, seed=0, max_candidates=None):
    torch.manual_seed(seed)
    data = get_random_rec_data(sem_channels=12)
    model = ContrastiveAlignment(TinyEncoder(8, 6), 12, 6, temperature=0.3,
                                 negatives=negatives,
                                 max_candidates=max_candidates)
    x_dict = id_embeddings(data, 8)
    return data, model, x_dict, model(x_dict, data.edge_index_dict)


@pytest.mark.parametrize('negatives,max_candidates', [
    ('in_batch', None), ('all', None), ({USER: 'all', ITEM: 'in_batch'}, None),
    ('in_batch', 2), ('in_batch', 3), ({USER: 'all', ITEM: 'in_batch'}, 2),
    ('in_batch', 5)])
def test_contrastive_matches_naive_loop(negatives, max_candidates):
    data, model, x_dict, z = setup(negatives, max_candidates=max_candidates)
    user = torch.tensor([0, 3, 3, 7, 19])  # duplicates kept
    pos, neg = torch.tensor([1, 2, 2, 5, 9]), torch.tensor([4, 0, 8, 8, 29])
    index_dict = {USER: [user], ITEM: [pos, neg]}
    loss = model.alignment_loss(z, data.sem_emb_dict, index_dict)
    assert loss.dim() == 0 and loss > 0

    expected = 0.0
    with torch.no_grad():
        for nt, groups in index_dict.items():
            proj = torch.stack([model.projector(s) for s in data[nt].sem_emb])
            for idx in groups:
                if model.negatives_of(nt) == 'all':  # every node, target id
                    cands, target = proj, idx.tolist()
                    expected += naive_nce(z[nt][idx], cands, target, 0.3)
                    continue
                # the group's own rows, duplicates kept; with a cap, each
                # row against its block of `max_candidates` rows
                size = max_candidates or idx.numel()
                for b in range(0, idx.numel(), size):
                    block = idx[b:b + size]
                    expected += naive_nce(
                        z[nt][block], proj[block], range(block.numel()),
                        0.3) * block.numel() / idx.numel()
    assert math.isclose(loss.item(), expected, rel_tol=1e-5)


def test_contrastive_gradients_and_plain_tensor_index():
    data, model, x_dict, z = setup('in_batch')
    loss = model.alignment_loss(z, data.sem_emb_dict,
                                {USER: torch.arange(5), ITEM: torch.arange(7)})
    loss.backward()
    for p in [x_dict[USER], x_dict[ITEM], model.encoder.lin.weight,
              *model.projector.parameters()]:
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_contrastive_to_hetero_graphsage_and_repr():
    data = get_random_rec_data(sem_channels=8)
    gnn = to_hetero(GraphSAGE(-1, 16, num_layers=2), data.metadata())
    model = ContrastiveAlignment(gnn, sem_channels=8, out_channels=16)
    x_dict = id_embeddings(data, 16)
    z = model(x_dict, data.edge_index_dict)
    assert z[USER].size() == (20, 16) and z[ITEM].size() == (30, 16)
    loss = model.alignment_loss(z, data.sem_emb_dict, {
        USER: torch.arange(4),
        ITEM: torch.arange(5)
    })
    loss.backward()
    assert all(p.grad is not None for p in gnn.parameters())
    assert str(model) == ('ContrastiveAlignment(GraphModule(...), '
                          'sem_channels=8, out_channels=16, temperature=0.2, '
                          "negatives='in_batch')")
    assert str(ContrastiveAlignment(gnn, 8, 16, max_candidates=4096)).endswith(
        "negatives='in_batch', max_candidates=4096)")
    assert model.projector.hidden_channels == 12
    # Evaluation is the plain encoder, deterministic.
    model.eval()
    z1 = model(x_dict, data.edge_index_dict)
    z2 = gnn(x_dict, data.edge_index_dict)
    assert torch.equal(z1[ITEM], z2[ITEM])


def test_contrastive_bf16_close():
    data, model, x_dict, z = setup({USER: 'all'})
    index = {USER: torch.arange(6), ITEM: [torch.arange(5)]}
    ref = model.alignment_loss(z, data.sem_emb_dict, index).item()
    model.bf16 = True
    dtypes = []
    model.projector.register_forward_hook(
        lambda mod, args, out: dtypes.append(out.dtype))
    out = model.alignment_loss(z, data.sem_emb_dict, index)
    assert out.dtype == torch.float32
    assert math.isclose(out.item(), ref, rel_tol=5e-2)
    # The projector's GEMMs ran in bf16; the scores were not.
    assert dtypes and set(dtypes) == {torch.bfloat16}


def test_contrastive_keeps_the_encoder_terms():
    # The encoder's own objective (its 'ssl' too) runs on the raw input and
    # its terms pass through unchanged, then 'align'; no ssl_loss attribute.
    torch.manual_seed(0)
    data = get_random_rec_data(sem_channels=12)
    encoder = TinySSLEncoder(8, 6)
    model = ContrastiveAlignment(encoder, 12, 6, temperature=0.3)
    assert not hasattr(model, 'ssl_loss')
    x_dict = id_embeddings(data, 8)
    batch = TrainBatch(torch.tensor([0, 3, 3]), torch.tensor([1, 2, 2]),
                       torch.tensor([4, 0, 8]), data)
    z, terms = model.loss_terms(x_dict, data.edge_index_dict, batch)
    assert list(terms) == ['rec', 'ssl', 'align']
    assert encoder.seen[USER] is x_dict[USER]
    inner = encoder.loss_terms(x_dict, data.edge_index_dict, batch)[1]
    for name in ('rec', 'ssl'):
        assert torch.equal(terms[name], inner[name])
    expected = float((x_dict[ITEM].detach()**2).sum()) / (30 * 8)
    assert math.isclose(terms['ssl'].item(), expected, rel_tol=1e-6)
    assert torch.equal(z[ITEM], encoder(x_dict, data.edge_index_dict)[ITEM])


def test_contrastive_errors():
    enc = TinyEncoder(8, 6)
    with pytest.raises(ValueError, match="'negatives' must be one of"):
        ContrastiveAlignment(enc, 12, 6, negatives={USER: 'batch'})
    with pytest.raises(ValueError, match="'temperature' must be positive"):
        ContrastiveAlignment(enc, 12, 6, temperature=0.0)
    for bad in (0, -4, 2.5, True, '64'):
        with pytest.raises(ValueError, match=r"'max_candidates' must be a "
                           r"positive int or None .*\(got "):
            ContrastiveAlignment(enc, 12, 6, max_candidates=bad)
    with pytest.raises(TypeError, match="'sem_channels' must be an int"):
        ContrastiveAlignment(enc, 12.0, 6)
    with pytest.raises(TypeError, match="'encoder' must be"):
        ContrastiveAlignment('gnn', 12, 6)
    data, model, _, z = setup('in_batch')
    with pytest.raises(ValueError, match=r"Expected 'sem_emb' for node type "
                       r"'user' of shape \[20, 12\]"):
        model.alignment_loss(z, {USER: torch.randn(20, 5)},
                             {USER: torch.arange(3)})
    with pytest.raises(ValueError, match="missing in 'z_dict' or 'sem_dict'"):
        model.alignment_loss(z, data.sem_emb_dict, {'tag': torch.arange(3)})
    with pytest.raises(ValueError, match="non-empty dict"):
        model.alignment_loss(z, data.sem_emb_dict, {})

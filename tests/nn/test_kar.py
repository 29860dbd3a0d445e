import pytest
import torch
from alignment_helpers import TinyEncoder, TinySSLEncoder, id_embeddings, mlp

from rlmrec_pyg.nn import KAR, Recommender, SemanticRanker, TrainBatch
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.train import evaluate
from rlmrec_pyg.typing import EDGE, ITEM, TEST_INDEX, USER


def test_kar_feeds_semantics_as_input_features():
    data = get_random_rec_data(sem_channels=12)
    encoder = TinyEncoder(8, 6)
    model = KAR(encoder, sem_channels=12, in_channels=8, out_channels=6)
    x_dict = id_embeddings(data, 8)
    z = model(x_dict, data.edge_index_dict, data.sem_emb_dict)
    expected = encoder({nt: x_dict[nt] + mlp(model, nt, data[nt].sem_emb)
                        for nt in (USER, ITEM)}, data.edge_index_dict)
    assert torch.allclose(z[ITEM], expected[ITEM])
    z[USER].sum().backward()
    assert model.adaptor[ITEM].mlp[0].weight.grad is not None
    assert x_dict[ITEM].grad is not None and encoder.lin.weight.grad.any()
    assert str(model) == 'KAR(TinyEncoder(...), sem_channels=12, ' \
        'in_channels=8)'
    # Other semantics give other outputs (the vectors do enter the model).
    other = model(x_dict, data.edge_index_dict,
                  {nt: -s for nt, s in data.sem_emb_dict.items()})
    assert not torch.allclose(other[ITEM], z[ITEM])
    with pytest.raises(ValueError, match="Expected 'sem_emb' for node type"):
        model(x_dict, data.edge_index_dict, {USER: data[USER].sem_emb})
    with pytest.raises(TypeError, match="'sem_dict' must be a dict"):
        model(x_dict, data.edge_index_dict, None)
    with pytest.raises(ValueError, match="'in_channels' must be positive"):
        KAR(encoder, 12, 0)


def test_kar_step_runs_the_encoder_objective_on_its_inputs():
    # No term of its own: the encoder's terms (its 'ssl' too) on x + MLP(s);
    # evaluation reads the vectors of the data.
    data = get_random_rec_data(sem_channels=12)
    encoder = TinySSLEncoder(8, 6)
    model = KAR(encoder, sem_channels=12, in_channels=8)
    assert not hasattr(model, 'ssl_loss')
    x_dict = id_embeddings(data, 8)
    batch = TrainBatch(torch.tensor([0, 3]), torch.tensor([1, 2]),
                       torch.tensor([4, 0]), data)
    z, terms = model.loss_terms(x_dict, data.edge_index_dict, batch)
    assert list(terms) == ['rec', 'ssl']
    inputs = {nt: x_dict[nt] + mlp(model, nt, data[nt].sem_emb)
              for nt in (USER, ITEM)}
    for nt in (USER, ITEM):
        assert torch.allclose(encoder.seen[nt], inputs[nt], atol=1e-6)
    expected = encoder(inputs, data.edge_index_dict)
    assert torch.allclose(z[ITEM], expected[ITEM], atol=1e-6)
    evaluated = model.encode(x_dict, data.edge_index_dict, data)
    assert torch.allclose(evaluated[USER], expected[USER], atol=1e-6)


def test_semantic_ranker_ranks_by_semantic_vectors():
    data = get_random_rec_data(sem_channels=4)
    # Make the semantics perfect for user 0: its test items point its way.
    test = data[EDGE][TEST_INDEX]
    items = test[1][test[0] == 0]
    data[USER].sem_emb[0] = torch.tensor([1.0, 0, 0, 0])
    data[ITEM].sem_emb[:, 0] = -1.0
    data[ITEM].sem_emb[items, 0] = 10.0
    model = SemanticRanker()
    x_dict = id_embeddings(data, 3)
    z = model(x_dict, data.edge_index_dict, data.sem_emb_dict)
    assert z[USER] is data[USER].sem_emb
    assert str(model) == 'SemanticRanker(normalize=False)'
    # Evaluated as a Recommender: its embeddings are data's vectors.
    rec = Recommender(model, data, embedding_dim=1)
    assert rec(data)[ITEM] is data[ITEM].sem_emb
    out = evaluate(rec, data, ks=[20])
    assert 0.0 < out['recall@20'] <= 1.0
    assert out == evaluate(rec, data, ks=[20], z_dict=z)
    one = data.clone()
    one[EDGE][TEST_INDEX] = test[:, test[0] == 0]
    perfect = evaluate(Recommender(model, one, embedding_dim=1), one, ks=[20])
    assert perfect['recall@20'] == 1.0
    norm = SemanticRanker(normalize=True)(x_dict, data.edge_index_dict,
                                          data.sem_emb_dict)
    assert torch.allclose(norm[ITEM].norm(dim=-1), torch.ones(30))

import math

import pytest
import torch

from rlmrec_pyg.nn import LightGCN, NodeEmbedding, Recommender
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.train import evaluate, rank_metrics
from rlmrec_pyg.typing import EDGE, ITEM, TEST_INDEX, USER, VAL_INDEX


def naive(user_emb, item_emb, eval_index, exclude_index, ks):
    # docs/parity.md#recall-and-ndcg, one user at a time: Recall = hits /
    # |T_u|, NDCG with the
    # ideal list of min(K, |T_u|) hits; users without ground truth skipped.
    out = {f'{m}@{k}': 0.0 for m in ('recall', 'ndcg') for k in ks}
    users = sorted(set(eval_index[0].tolist()))
    for u in users:
        truth = set(eval_index[1, eval_index[0] == u].tolist())
        score = (user_emb[u] @ item_emb.t()).tolist()
        masked = set()
        for index in exclude_index:
            masked |= set(index[1, index[0] == u].tolist())
        ranked = sorted((i for i in range(len(score)) if i not in masked),
                        key=lambda i: -score[i])
        for k in ks:
            hits = [1 if i in truth else 0 for i in ranked[:k]]
            dcg = sum(h / math.log2(j + 2) for j, h in enumerate(hits))
            idcg = sum(1 / math.log2(j + 2)
                       for j in range(min(k, len(truth))))
            out[f'recall@{k}'] += sum(hits) / len(truth)
            out[f'ndcg@{k}'] += dcg / idcg
    return {key: value / len(users) for key, value in out.items()}


def test_rank_metrics_matches_naive():
    gen = torch.Generator().manual_seed(1)
    num_users, num_items = 60, 80
    user_emb = torch.randn(num_users, 8, generator=gen)
    item_emb = torch.randn(num_items, 8, generator=gen)
    # Distinct pairs: user 0 has 30 ground-truth items (> 20), users 50..59
    # have none; the rest is random.
    keys = torch.randperm(num_users * num_items, generator=gen)[:1500]
    keys = keys[keys // num_items < 50]
    keys = torch.cat([torch.arange(30) + 40, keys[keys // num_items != 0]])
    index = torch.stack([keys // num_items, keys % num_items])
    train, evals = index[:, 30 + 400:], index[:, :30 + 400]
    ks = [1, 5, 10, 20]
    out = rank_metrics(user_emb, item_emb, evals, [train], ks, batch_size=7)
    ref = naive(user_emb, item_emb, evals, [train], ks)
    assert set(out) == set(ref)
    for key in ref:
        assert out[key] == pytest.approx(ref[key], abs=1e-5), key
    # Without masking the numbers change (train items then count as misses).
    assert rank_metrics(user_emb, item_emb, evals, [], ks) != out


def test_evaluate_protocol():
    data = get_random_rec_data(num_users=30, num_items=40,
                               num_interactions=400)
    embedding = NodeEmbedding({USER: 30, ITEM: 40}, 8)
    encoder = LightGCN(8, num_layers=2)
    model = Recommender(encoder, embedding=embedding)
    model.train()
    out = evaluate(model, data, 'test', ks=[5, 20])
    assert not model.training  # evaluation runs in eval mode
    with torch.no_grad():
        z = encoder(embedding(), data.edge_index_dict)
    store = data[EDGE]
    ref = naive(z[USER], z[ITEM], store[TEST_INDEX], [store.edge_index],
                [5, 20])
    for key in ref:  # validation items are NOT masked at test time
        assert out[key] == pytest.approx(ref[key], abs=1e-5)
    masked = evaluate(model, data, 'test', [5, 20], mask_val=True)
    ref = naive(z[USER], z[ITEM], store[TEST_INDEX],
                [store.edge_index, store[VAL_INDEX]], [5, 20])
    for key in ref:
        assert masked[key] == pytest.approx(ref[key], abs=1e-5)
    val = evaluate(model, data, 'val', [5])
    assert set(val) == {'recall@5', 'ndcg@5'}


def test_evaluate_errors():
    data = get_random_rec_data()
    model = Recommender(LightGCN(8), data, embedding_dim=8)
    with pytest.raises(ValueError, match="'ks' must be a non-empty list"):
        evaluate(model, data, ks=[0, 20])
    with pytest.raises(ValueError, match="Unknown split 'train'"):
        evaluate(model, data, 'train')
    with pytest.raises(ValueError, match="'eval_index' holds ids out of"):
        rank_metrics(torch.randn(2, 4), torch.randn(3, 4),
                     torch.tensor([[0, 1], [0, 3]]))


def random_split(num_users=60, num_items=80, seed=1):
    gen = torch.Generator().manual_seed(seed)
    user_emb = torch.randn(num_users, 8, generator=gen)
    item_emb = torch.randn(num_items, 8, generator=gen)
    keys = torch.randperm(num_users * num_items, generator=gen)[:1500]
    index = torch.stack([keys // num_items, keys % num_items])
    return user_emb, item_emb, index[:, :1000], index[:, 1000:]


@pytest.mark.parametrize('item_batch_size', [1, 7, 20, 79, 80, 1000])
def test_item_chunks_give_the_same_metrics(item_batch_size):
    user_emb, item_emb, train, evals = random_split()
    ks = [1, 5, 20]
    ref = naive(user_emb, item_emb, evals, [train], ks)
    out = rank_metrics(user_emb, item_emb, evals, [train], ks, batch_size=9,
                       item_batch_size=item_batch_size)
    for key in ref:
        assert out[key] == pytest.approx(ref[key], abs=1e-5), key


def test_users_restricts_the_ranking():
    user_emb, item_emb, train, evals = random_split()
    users = torch.tensor([3, 5, 5, 8, 40])
    kept = evals[:, torch.isin(evals[0], users)]
    ref = naive(user_emb, item_emb, kept, [train], [10])
    out = rank_metrics(user_emb, item_emb, evals, [train], [10],
                       users=users)
    assert out['recall@10'] == pytest.approx(ref['recall@10'], abs=1e-6)
    assert out != rank_metrics(user_emb, item_emb, evals, [train], [10])
    with pytest.raises(ValueError, match="'users' must be a 1-D tensor"):
        rank_metrics(user_emb, item_emb, evals, [train], [10],
                     users=torch.tensor([60]))
    with pytest.raises(ValueError, match="'item_batch_size' must be a "
                       "positive integer"):
        rank_metrics(user_emb, item_emb, evals, [train], [10],
                     item_batch_size=0)


def test_evaluate_user_sample_is_seeded_and_reported():
    data = get_random_rec_data(num_users=60, num_items=50,
                               num_interactions=900)
    model = Recommender(LightGCN(8, num_layers=1), data, embedding_dim=8)
    full = evaluate(model, data, 'test')
    assert 'sampled_users' not in full
    a = evaluate(model, data, 'test', user_sample=10, seed=3)
    b = evaluate(model, data, 'test', user_sample=10, seed=3)
    c = evaluate(model, data, 'test', user_sample=10, seed=4)
    assert a == b and a['sampled_users'] == 10.0
    assert a != c
    # A sample as large as the population is the full protocol.
    assert evaluate(model, data, 'test', user_sample=10**6) == full
    chunked = evaluate(model, data, 'test', item_batch_size=7)
    for key, value in full.items():
        assert chunked[key] == pytest.approx(value, abs=1e-6)
    with pytest.raises(ValueError, match="'user_sample' must be a positive"):
        evaluate(model, data, 'test', user_sample=0)

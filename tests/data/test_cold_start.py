r"""The cold-start split and its evaluation: held-out items never reach
training, their feedback text is cleared, and the metrics' random
reference is the exact expectation."""
import itertools
import math

import pytest
import torch

from rlmrec_pyg.data.cold_start import DropColdItems, HoldOutItems
from rlmrec_pyg.nn import ContrastiveAlignment, LightGCN
from rlmrec_pyg.recommend.cold_start import place_items, random_metrics
from rlmrec_pyg.testing import get_clustered_rec_data
from rlmrec_pyg.typing import EDGE, ITEM, RAW_ID
from tests.run_helpers import get_cfg, run


def pairs(data, ids):
    return {(int(u), ids[int(i)]) for key in ('edge_index', 'val_edge_index',
                                              'test_edge_index')
            for u, i in data[EDGE][key].t()}


def test_held_out_items_leave_the_graph_with_all_their_interactions():
    data = get_clustered_rec_data()
    data[ITEM][RAW_ID] = [f'i{k}' for k in range(data[ITEM].num_nodes)]
    data[ITEM].tags = [[f'tag of i{k}'] for k in range(data[ITEM].num_nodes)]
    held = HoldOutItems(0.25, seed=3)(data)
    cold = held[ITEM].cold
    assert int(cold.sum()) == round(0.25 * data[ITEM].num_nodes)
    assert all(t == [] for t, c in zip(held[ITEM].tags, cold) if c)
    assert all(t != [] for t, c in zip(held[ITEM].tags, cold) if not c)
    out = DropColdItems()(held)
    before = pairs(data, data[ITEM][RAW_ID])
    warm = pairs(out, out[ITEM][RAW_ID])
    cold_pairs = {(int(u), out.cold_raw_id[int(i)])
                  for u, i in out.cold_test_index.t()}
    # Every interaction is either warm (same split) or cold, never both.
    assert warm | cold_pairs == before and not warm & cold_pairs
    assert set(out.cold_raw_id).isdisjoint(out[ITEM][RAW_ID])
    assert out[ITEM].num_nodes + len(out.cold_raw_id) == data[ITEM].num_nodes
    # Rows follow their items.
    where = {r: k for k, r in enumerate(data[ITEM][RAW_ID])}
    for k, raw in enumerate(out.cold_raw_id):
        assert torch.equal(out.cold_sem_emb[k],
                           data[ITEM].sem_emb[where[raw]])
    for k, raw in enumerate(out[ITEM][RAW_ID]):
        assert torch.equal(out[ITEM].sem_emb[k],
                           data[ITEM].sem_emb[where[raw]])
        assert out[ITEM].title[k] == data[ITEM].title[where[raw]]


def test_random_reference_is_the_exact_expectation():
    # Two users over 4 candidates: average every permutation.
    index = torch.tensor([[0, 0, 1], [0, 3, 2]])
    got = random_metrics(index, 4, [2])
    recalls, ndcgs = [], []
    for perm in itertools.permutations(range(4)):
        top = perm[:2]
        per_user = []
        for items in ({0, 3}, {2}):
            dcg = sum(1 / math.log2(j + 2) for j, i in enumerate(top)
                      if i in items)
            ideal = sum(1 / math.log2(j + 2) for j in range(min(2, len(
                items))))
            per_user.append((len(items & set(top)) / len(items),
                             dcg / ideal))
        recalls.append(sum(r for r, _ in per_user) / 2)
        ndcgs.append(sum(n for _, n in per_user) / 2)
    assert got['recall@2'] == pytest.approx(sum(recalls) / len(recalls))
    assert got['ndcg@2'] == pytest.approx(sum(ndcgs) / len(ndcgs))


def test_only_rlmrec_con_places_items():
    sem = torch.randn(5, 16)
    con = ContrastiveAlignment(LightGCN(8), sem_channels=16, out_channels=8)
    placed = place_items(con, sem)
    assert torch.allclose(placed * con.projector(sem).norm(dim=-1,
                                                           keepdim=True),
                          con.projector(sem), atol=1e-5)
    with pytest.raises(ValueError, match='projector .* is not built yet'):
        place_items(ContrastiveAlignment(LightGCN(8)), sem)
    assert placed.shape == (5, 8)
    assert torch.allclose(placed.norm(dim=-1), torch.ones(5))
    assert place_items(LightGCN(8), sem) is None


def test_cold_start_run_places_items_better_than_chance(tmp_path):
    # On the clustered graph (semantic vectors carry the taste clusters),
    # RLMRec-Con's placement of items it never saw beats a random ranking.
    out = run(get_cfg(tmp_path, [
        'dataset=clustered', 'alignment=contrastive', 'cold_items=0.5',
        'optimizer.lr=0.01', 'trainer.batch_size=256',
        'trainer.max_epochs=20', 'trainer.eval_every=5']))
    # 40 cold items: a random top-10 holds a quarter of them.
    assert out['cold/recall@10'] > out['cold_random/recall@10'] + 0.2
    assert 'cold_semantic/recall@20' in out
    base = run(get_cfg(tmp_path / 'base', [
        'dataset=clustered', 'cold_items=0.5', 'trainer.max_epochs=1']))
    assert 'cold/recall@10' not in base  # a backbone cannot place them
    assert base['cold_random/recall@10'] == out['cold_random/recall@10']

r"""Cold-start metrics (held-out items placed by RLMRec-Con's projector) on
the device: the CPU's values, the placement's Recall written out."""
import pytest
import torch
import torch.nn.functional as F
from cuda_helpers import Run, compose
from naive_metrics import naive_recall
from torch_geometric.data import HeteroData

from rlmrec_pyg.cli.train import to_device
from rlmrec_pyg.data.cold_start import DropColdItems, HoldOutItems
from rlmrec_pyg.recommend.cold_start import cold_start_metrics
from rlmrec_pyg.testing import get_clustered_rec_data
from rlmrec_pyg.typing import EDGE, ITEM, RAW_ID, TEST_INDEX, USER

pytestmark = pytest.mark.cuda

#: The references whose scores never tie (the popularity oracle's do, and
#: a GPU breaks ties in another order).
TIE_FREE = ('cold', 'cold_semantic', 'cold_random')


def cold_data(device):
    r"""A clustered graph with a quarter of its items held out, moved to
    :obj:`device` as a run moves it."""
    data = get_clustered_rec_data(num_users=30, num_items=40,
                                  num_clusters=4, interactions_per_user=8,
                                  with_text=False)
    data[ITEM][RAW_ID] = [f'i{k}' for k in range(40)]
    return to_device(DropColdItems()(HoldOutItems(0.25, seed=3)(data)),
                     device)


def placement_recall(run: Run, k: int) -> float:
    r"""Recall@:obj:`k` of the cold items ranked by
    :math:`\mathbf{z}_u^{\top} \sigma_{\downarrow}(\mathbf{s}_i) /
    \|\sigma_{\downarrow}(\mathbf{s}_i)\|`, written out on the CPU."""
    with torch.no_grad():
        user = run.model(run.data)[USER].cpu()
        key = run.model.encoder.projector(run.data.cold_sem_emb).cpu()
    score = user @ F.normalize(key, dim=-1).t()
    ranking = HeteroData()  # no cold item has a training interaction
    ranking[EDGE].edge_index = torch.empty(2, 0, dtype=torch.long)
    ranking[EDGE][TEST_INDEX] = run.data.cold_test_index.cpu()
    return naive_recall(score, ranking, k, TEST_INDEX)


def test_cold_start_metrics_match_the_cpu(device, tmp_path):
    # Catches the bugs fixed here: the popularity oracle's all-ones user
    # vectors and the random reference's discounts made on the CPU for a
    # model on the GPU (a device mismatch). On the dry run too: the
    # placement not normalised (mutation tried: `F.normalize` removed from
    # `place_items`).
    cfg = compose(tmp_path, 'lightgcn', 'contrastive', deterministic=True)
    cpu = Run(cfg, cold_data(torch.device('cpu')), torch.device('cpu'))
    dev = Run(cfg, cold_data(device), device)
    want = cold_start_metrics(cpu.model, cpu.data, ks=(3, 5))
    got = cold_start_metrics(dev.model, dev.data, ks=(3, 5))
    assert set(got) == set(want) == set(TIE_FREE) | {
        'cold_popularity_oracle'}
    for name in TIE_FREE:
        assert got[name] == pytest.approx(want[name], rel=1e-4), name
    assert all(0 <= v <= 1 for v in got['cold_popularity_oracle'].values())
    for k in (3, 5):
        assert got['cold'][f'recall@{k}'] == pytest.approx(
            placement_recall(dev, k), rel=1e-6)

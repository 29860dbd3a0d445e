r"""All-rank evaluation on the device: from the same embeddings, the same
top-K lists and the same Recall / NDCG as on the CPU."""
import pytest
import torch
from cuda_helpers import rec_data
from naive_metrics import naive_recall

from rlmrec_pyg.train import evaluate
from rlmrec_pyg.train.evaluate import SPLITS, top_items
from rlmrec_pyg.typing import EDGE, ITEM, USER, VAL_INDEX

pytestmark = pytest.mark.cuda

#: Ways to call :func:`evaluate`: both splits, validation items masked,
#: users and items in chunks (the running top-K), a sample of users.
CALLS = {
    'test': dict(split='test'),
    'val': dict(split='val'),
    'mask_val': dict(split='test', mask_val=True),
    'chunks': dict(split='test', batch_size=6, item_batch_size=7),
    'user_sample': dict(split='test', user_sample=7),
}


def exact_embeddings(seed: int = 0):
    r"""Embeddings whose scores every device computes exactly: small
    integers, plus a last column that adds :math:`i / 32` to item
    :math:`i`'s scores, so that no two items of a user tie (the ranking
    leaves nothing to rounding or to tie-breaking)."""
    gen = torch.Generator().manual_seed(seed)
    user = torch.randint(-4, 5, (20, 8), generator=gen).float()
    item = torch.randint(-4, 5, (30, 8), generator=gen).float()
    return {
        USER: torch.cat([user, torch.ones(20, 1)], dim=1),
        ITEM: torch.cat([item, torch.arange(30).view(-1, 1) / 32], dim=1),
    }


def test_top_items_equal_the_cpu(device):
    # The running top-K over chunks of 7 items gives on the device the
    # CPU's lists and the lists of the definition (every item but the
    # user's training items, by score). Catches: a chunk's item ids not
    # offset (mutation tried: `idx + start` -> `idx`), the training items
    # not masked on the device.
    z = exact_embeddings()
    row, col = rec_data(torch.device('cpu'))[EDGE].edge_index
    users = torch.arange(20)
    _, want = top_items(z[USER], z[ITEM], row, col, 20, 7, False, users)
    _, got = top_items(z[USER].to(device), z[ITEM].to(device),
                       row.to(device), col.to(device), 20, 7, False,
                       users.to(device))
    assert got.device.type == device.type
    assert torch.equal(got.cpu(), want)
    score = z[USER] @ z[ITEM].t()
    score[row, col] = float('-inf')
    assert torch.equal(want, score.argsort(dim=1, descending=True)[:, :20])


@pytest.mark.parametrize('call', list(CALLS))
def test_evaluate_equals_the_cpu(call, device):
    # The metrics of the device equal the CPU's up to the float32 sum over
    # users (reduced in another order on a GPU; one user's hit more or
    # less moves a recall by > 1e-3); Recall@5 and @10 also equal the
    # protocol written out (naive_recall) where it applies. Catches: the
    # chunked top-K losing its item offset (mutation tried: `idx + start`
    # -> `idx` in `top_items`), a split or mask ignored (tried: the
    # `mask_val` branch of `evaluate` disabled), a device mismatch in the
    # user sample or the CSR pointers.
    kwargs = CALLS[call]
    cpu_data, dev_data = rec_data(torch.device('cpu')), rec_data(device)
    z = exact_embeddings()
    want = evaluate(None, cpu_data, z_dict=z, **kwargs)
    dev_z = {nt: emb.to(device) for nt, emb in z.items()}
    got = evaluate(None, dev_data, z_dict=dev_z, **kwargs)
    assert got == pytest.approx(want, rel=1e-6, abs=1e-7)
    if call == 'user_sample':
        return
    score = z[USER] @ z[ITEM].t()
    if kwargs.get('mask_val'):  # validation items not ranked either
        store = cpu_data[EDGE]
        store.edge_index = torch.cat([store.edge_index, store[VAL_INDEX]], 1)
    for k in (5, 10):
        assert got[f'recall@{k}'] == pytest.approx(
            naive_recall(score, cpu_data, k, SPLITS[kwargs['split']]),
            rel=1e-6)

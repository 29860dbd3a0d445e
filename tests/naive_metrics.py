r"""Recall@K and the popularity and random baselines written from the
protocol's definition (the official all-rank evaluation: training items
are not ranked, validation items are; users without test items are left
out), independent of :mod:`rlmrec_pyg.train.evaluate`."""
import torch

from rlmrec_pyg.typing import EDGE, ITEM, TEST_INDEX, USER

K = 20


def naive_recall(score, data, k=K, split=TEST_INDEX):
    r"""Mean Recall@k over users with test items; training items are not
    ranked, validation items are (the official protocol)."""
    train = data[EDGE].edge_index.t().tolist()
    test = data[EDGE][split].t().tolist()
    seen, truth = {}, {}
    for u, i in train:
        seen.setdefault(u, set()).add(i)
    for u, i in test:
        truth.setdefault(u, set()).add(i)
    rows, recalls = score.tolist(), []
    for u, items in truth.items():
        ranked = sorted((i for i in range(len(rows[u]))
                         if i not in seen.get(u, ())),
                        key=lambda i: -rows[u][i])
        recalls.append(len(items & set(ranked[:k])) / len(items))
    return sum(recalls) / len(recalls)


def popularity(data):
    degree = torch.bincount(data[EDGE].edge_index[1],
                            minlength=data[ITEM].num_nodes).float()
    return degree.expand(data[USER].num_nodes, -1)


def random_recall(data, k=K):
    # Expected Recall@k of a uniformly random ranking: k / |candidates|.
    num_items = data[ITEM].num_nodes
    train = torch.bincount(data[EDGE].edge_index[0],
                           minlength=data[USER].num_nodes)
    users = data[EDGE][TEST_INDEX][0].unique()
    return float((k / (num_items - train[users].float())).clamp(max=1).mean())


def baseline_recall(data, k=K):
    r"""The better of the popularity and the random ranking's Recall@k."""
    return max(naive_recall(popularity(data), data, k),
               random_recall(data, k))


#: Overrides that make a run learn on ``dataset=clustered`` in seconds.
LEARN = ['dataset=clustered', 'optimizer.lr=0.01', 'trainer.batch_size=256',
         'trainer.eval_every=5', 'trainer.max_epochs=20']


def clustered():
    r"""The graph of ``conf/dataset/clustered.yaml``."""
    from rlmrec_pyg.testing import get_clustered_rec_data
    return get_clustered_rec_data()

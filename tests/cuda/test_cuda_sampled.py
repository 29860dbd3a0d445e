r"""Sampled training (PyG's ``LinkNeighborLoader``) with the graph and a
user's ``to_hetero(GraphSAGE)`` on the device: the same epoch as on the
CPU (PyG samples on the CPU, from the same seed)."""
import math

import pytest
import torch
from cuda_helpers import Run, rec_data
from run_helpers import get_cfg

from rlmrec_pyg.train.sampled import train_epoch_sampled, training_loader

pytestmark = pytest.mark.cuda


def sampled_epoch(tmp_path, variant, device):
    cfg = get_cfg(tmp_path, ['model=graphsage', f'alignment={variant}',
                             'model.embedding_dim=16',
                             'model.module.hidden_channels=16'])
    run = Run(cfg, rec_data(device), device)  # seeds the sampler's RNG too
    before = run.state()
    means = train_epoch_sampled(run.model, run.data, run.optimizer, [3, 2],
                                32, run.weights, 'batch', run.generator)
    after = run.state()
    moved = [name for name in before if not torch.equal(before[name],
                                                        after[name])]
    return means, moved


@pytest.mark.parametrize('variant', ['contrastive', 'generative'])
def test_sampled_epoch_matches_the_cpu(variant, device, tmp_path):
    # On a GPU it catches the bug fixed here (the loader built from the
    # device's graph: CUDA seeds reach PyG's CPU sampler, an error or a
    # crash) and any device-dependent subgraph, semantic row or loss term.
    # On the dry run: a sampled step that updates nothing or loses its
    # alignment term (mutation tried: `optimizer.step()` removed from
    # `train_epoch_sampled`).
    want, _ = sampled_epoch(tmp_path, variant, torch.device('cpu'))
    got, moved = sampled_epoch(tmp_path, variant, device)
    assert list(got) == list(want) and 'align' in got
    assert all(math.isfinite(v) for v in got.values())
    assert got == pytest.approx(want, rel=1e-4)
    assert moved  # the step updated the device's parameters


def test_the_loader_samples_a_cpu_copy(device):
    # Catches, on a GPU: the loader sampling from the device's tensors
    # (the `.cpu()` of `training_loader` removed).
    loader = training_loader(rec_data(device), [3, 2], 32)
    assert loader.edge_label_index[1].device.type == 'cpu'
    batch = next(iter(loader))
    assert batch['user'].n_id.device.type == 'cpu'

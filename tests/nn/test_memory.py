r"""A score matrix that would not fit is refused before it is allocated,
with the bounded option of the loss that asked for it."""
import pytest
import torch
from alignment_helpers import TinyEncoder, id_embeddings

from rlmrec_pyg.nn import ContrastiveAlignment, MaskedGenerativeAlignment
from rlmrec_pyg.nn import memory
from rlmrec_pyg.nn.memory import ScoreMatrixTooLarge, check_score_matrix
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.typing import ITEM, USER


@pytest.fixture
def tiny_memory(monkeypatch):
    # Every matrix is checked, and the device has 64 bytes available.
    monkeypatch.setattr(memory, 'CHECK_FROM_BYTES', 0)
    monkeypatch.setattr(memory, 'available_memory', lambda device: 64)


def test_small_matrices_are_not_checked(monkeypatch):
    def fail(device):
        raise AssertionError('checked')
    monkeypatch.setattr(memory, 'available_memory', fail)
    check_score_matrix(1000, 1000, torch.float32, torch.device('cpu'))
    with pytest.raises(AssertionError):
        check_score_matrix(2**16, 2**16, torch.float32, torch.device('cpu'))


def test_check_counts_bytes_and_copies(monkeypatch):
    monkeypatch.setattr(memory, 'CHECK_FROM_BYTES', 0)
    monkeypatch.setattr(memory, 'available_memory', lambda d: 3 * 4 * 100)
    check_score_matrix(10, 10, torch.float32, torch.device('cpu'))  # fits
    with pytest.raises(ScoreMatrixTooLarge, match='A 10 x 11 score matrix'):
        check_score_matrix(10, 11, torch.float32, torch.device('cpu'))
    check_score_matrix(10, 20, torch.bfloat16, torch.device('cpu'))
    assert issubclass(ScoreMatrixTooLarge, MemoryError)


def test_generative_names_max_masked(tiny_memory):
    # Semantic rows wider than 128 (384 or 1536 in practice) take the dense
    # path on the CPU too.
    data = get_random_rec_data(sem_channels=130)
    model = MaskedGenerativeAlignment(TinyEncoder(8, 6), 8, 130, 6,
                                      mask_ratio=0.3)
    x_dict = id_embeddings(data, 8)
    mask = model.sample_mask({USER: 20, ITEM: 30})
    z = model(x_dict, data.edge_index_dict, mask)
    with pytest.raises(MemoryError, match=r"RLMRec-Gen's loss over all 15 "
                       r"masked nodes needs a 15 x 15 score matrix.*"
                       r"max_masked"):
        model.alignment_loss(z, data.sem_emb_dict, mask)


def wide_contrastive(**kwargs):
    # Rows wider than 128 take the dense path (GPU, autocast and wide rows
    # do; narrow CPU rows are computed in blocks and never stored).
    data = get_random_rec_data(sem_channels=12)
    model = ContrastiveAlignment(TinyEncoder(8, 130), 12, 130, **kwargs)
    z = model.encoder(id_embeddings(data, 8), data.edge_index_dict)
    return data, model, z


def test_contrastive_names_in_batch_negatives(tiny_memory):
    data, model, z = wide_contrastive(
        negatives={USER: 'all', ITEM: 'in_batch'})
    index = {USER: torch.tensor([0, 1, 2]), ITEM: torch.tensor([3, 4])}
    with pytest.raises(MemoryError, match=r"RLMRec-Con's 'user' term needs "
                       r"a 3 x 20 score matrix.*in-batch negatives for "
                       r"'user'.*negatives.user=in_batch"):
        model.alignment_loss(z, data.sem_emb_dict, index)


def test_contrastive_in_batch_names_max_candidates(tiny_memory):
    # 64 bytes hold 3 copies of a 2 x 2 float32 matrix, not of a 4 x 4 one.
    data, model, z = wide_contrastive()
    index = {USER: torch.tensor([0, 1, 2, 5])}
    with pytest.raises(MemoryError, match=r"RLMRec-Con's 'user' term needs "
                       r"a 4 x 4 score matrix.*alignment.module."
                       r"max_candidates=4096\) or use a smaller"):
        model.alignment_loss(z, data.sem_emb_dict, index)
    blocks = ContrastiveAlignment(model.encoder, 12, 130, max_candidates=2)
    assert blocks.alignment_loss(z, data.sem_emb_dict, index) > 0

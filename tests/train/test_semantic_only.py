r"""Table 1's "semantic embeddings only" row as a run: alignment=
semantic_only with trainer.max_epochs=0 ranks by the cosine of the
semantic vectors, as a naive Recall@20 of those scores says."""
import torch.nn.functional as F

from rlmrec_pyg.typing import ITEM, USER
from tests.naive_metrics import clustered, naive_recall
from tests.run_helpers import get_cfg, run


def test_semantic_only_run_ranks_by_semantic_cosine(tmp_path):
    out = run(get_cfg(tmp_path, ['dataset=clustered',
                                 'alignment=semantic_only',
                                 'trainer.max_epochs=0']))
    data = clustered()
    score = F.normalize(data[USER].sem_emb, dim=-1) @ F.normalize(
        data[ITEM].sem_emb, dim=-1).t()
    assert abs(out['test/recall@20'] - naive_recall(score, data)) < 1e-6
    assert out['best_epoch'] == -1 and out['last_epoch'] == -1
    assert not (tmp_path / 'history.csv').exists()
    assert (tmp_path / 'best.pt').exists()  # for rlmrec-recommend


def test_semantic_only_experiments_train_nothing():
    from omegaconf import OmegaConf

    from rlmrec_pyg.cli import CONFIG_DIR
    for name in ('movielens', 'amazon', 'yelp', 'steam'):
        cfg = OmegaConf.load(f'{CONFIG_DIR}/experiment/semantic_only_'
                             f'{name}.yaml')
        assert cfg.trainer.max_epochs == 0
        assert {'override /alignment': 'semantic_only'} in cfg.defaults


def test_epochs_do_not_change_the_semantic_ranking(tmp_path):
    args = ['dataset=clustered', 'alignment=semantic_only']
    none = run(get_cfg(tmp_path / 'a', args + ['trainer.max_epochs=0']))
    some = run(get_cfg(tmp_path / 'b', args + ['trainer.max_epochs=2']))
    assert none['test/recall@20'] == some['test/recall@20']


def test_semantic_ranker_refuses_a_positional_flag():
    import pytest

    from rlmrec_pyg.nn import SemanticRanker
    with pytest.raises(TypeError, match='pass normalize=True by name'):
        SemanticRanker(True)

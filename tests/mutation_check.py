r"""A small mutation check: does the test suite notice broken wiring?

Each mutation below breaks one piece of wiring (a loss term dropped, a
configured knob ignored, an evaluation mask removed, a safety check
skipped) by replacing one exact snippet of the source. For each, the
script copies the repository to a scratch folder, applies the mutation,
runs the tests that should catch it, and counts the mutant as *killed*
when they fail. The unmutated copy must pass the same tests first.

.. code-block:: bash

    python tests/mutation_check.py              # every mutation, 2 workers
    python tests/mutation_check.py --jobs 1 --only align_term_dropped

It prints one line per mutation and the score; the exit code is non-zero
unless every mutant is killed. ``tests/test_mutation_check.py`` checks in
CI that every snippet still occurs exactly once in its file (so the list
cannot rot silently as the code changes).
"""
import argparse
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import List, NamedTuple, Tuple

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
COPY = ('rlmrec_pyg', 'conf', 'tests', 'examples', 'setup.cfg', 'README.md')


class Mutation(NamedTuple):
    name: str
    path: str  # relative to the repository root
    old: str  # occurs exactly once in the file
    new: str
    tests: Tuple[str, ...]  # pytest arguments that must fail


L, S, R = 'rlmrec_pyg/train/loop.py', 'rlmrec_pyg/cli/studies.py', \
    'rlmrec_pyg/cli/train.py'
T, E = 'rlmrec_pyg/train/trainer.py', 'rlmrec_pyg/train/evaluate.py'
A = 'rlmrec_pyg/nn/alignment.py'
O, M = 'rlmrec_pyg/nn/objective.py', 'rlmrec_pyg/nn/recommender.py'
WIRING = ('tests/test_wiring.py', )

MUTATIONS: List[Mutation] = [
    # The training objective.
    Mutation('align_term_dropped', A,
             "terms['align'] = self.alignment_loss(z_dict, batch.sem_dict,\n"
             "                                             self.alignment_"
             "index(batch),\n"
             "                                             **extra)",
             "terms['align'] = 0.0 * self.alignment_loss(\n"
             "            z_dict, batch.sem_dict, "
             "self.alignment_index(batch), **extra)",
             WIRING),
    Mutation('align_weight_not_from_config', R,
             'return dict(kwargs, seed=cfg.seed,',
             "return dict(kwargs, loss_weights=dict(\n"
             "        kwargs.get('loss_weights') or {}, align=0.01), "
             "seed=cfg.seed,", WIRING),
    Mutation('loss_weights_ignored', L,
             'value = value if weight == 1 else weight * value',
             'value = value', WIRING),
    Mutation('term_without_weight_not_refused', L, '    if missing:',
             '    if False:', ('tests/train/test_history.py', )),
    Mutation('history_without_terms', T,
             'row: Dict[str, Any] = dict(epoch=epoch, **stats)',
             "row: Dict[str, Any] = dict(epoch=epoch, loss=stats['loss'])",
             ('tests/train/test_history.py', )),
    Mutation('ssl_term_dropped', 'rlmrec_pyg/nn/models/sgl.py',
             "terms['ssl'] = self.ssl_loss(", "terms['ssl'] = 0.0 * "
             "self.ssl_loss(", WIRING),
    Mutation('l2_term_dropped', M,
             "out['reg'] = l2_reg(self.regularised(x_dict, batch, reg))",
             "out['reg'] = 0.0 * l2_reg(self.regularised(x_dict, batch, "
             "reg))", WIRING),
    Mutation('reg_mode_ignored', M, "if reg == 'all':", 'if True:', WIRING),
    Mutation('bpr_pos_neg_swapped', O,
             'bpr_loss((z_user * z_dict[ITEM][batch.pos]).sum(dim=-1),\n'
             '                 (z_user * z_dict[ITEM][batch.neg])',
             'bpr_loss((z_user * z_dict[ITEM][batch.neg]).sum(dim=-1),\n'
             '                 (z_user * z_dict[ITEM][batch.pos])',
             ('tests/test_learning.py', )),
    Mutation('plain_encoder_not_on_bpr', O,
             '    z_dict = encoder(x_dict, edge_index_dict)\n'
             '    return z_dict, bpr_terms(z_dict, batch)',
             '    z_dict = encoder(x_dict, edge_index_dict)\n'
             "    return z_dict, {'rec': 0 * z_dict[USER].sum()}",
             ('tests/train/test_user_gnn.py', )),
    Mutation('gen_forward_not_masked', A,
             'self.mask_inputs(x_dict, mask_dict),\n'
             '                                      edge_index_dict, batch)',
             'x_dict,\n'
             '                                      edge_index_dict, batch)',
             WIRING),
    Mutation('negatives_may_be_positives', 'rlmrec_pyg/data/sampling.py',
             'while redo.numel() > 0:', 'while False:',
             ('tests/data/test_sampling.py', )),
    # The alignment modules' knobs.
    Mutation('con_temperature_ignored', A,
             'info_nce(z[uniq], key, uniq, self.temperature, count)',
             'info_nce(z[uniq], key, uniq, 0.2, count)',
             ('tests/nn/test_alignment.py', )),
    Mutation('con_negatives_ignored', A,
             "if self.negatives_of(nt) == 'all':\n"
             "            key = self._project(",
             "if False:\n            key = self._project(",
             ('tests/nn/test_alignment.py', )),
    Mutation('con_max_candidates_ignored', A,
             'size = self.max_candidates\n',
             'size = None\n',
             ('tests/nn/test_alignment.py', 'tests/nn/test_memory.py')),
    Mutation('con_block_offset_dropped', A,
             'else _offset(index, gather))',
             'else 0)',
             ('tests/train/test_distributed.py', )),
    Mutation('gen_temperature_ignored', A,
             'loss = info_nce(pred, sem, None, self.temperature)',
             'loss = info_nce(pred, sem, None, 0.2)',
             ('tests/nn/test_generative_alignment.py', )),
    Mutation('gen_mask_ratio_ignored', A,
             'num_masked = max(1, math.floor(num_nodes * self.mask_ratio))',
             'num_masked = max(1, math.floor(num_nodes * 0.1))',
             ('tests/nn/test_generative_alignment.py', )),
    Mutation('gen_reconstruction_ignored', A,
             "if self.reconstruction == 'cosine':", 'if False:',
             ('tests/nn/test_generative_alignment.py', )),
    # Backbone knobs.
    Mutation('sgl_ssl_term_weighted', 'rlmrec_pyg/nn/models/sgl.py',
             'return loss / user.numel()', 'return 0.1 * loss / user.numel()',
             ('tests/nn/models/test_sgl.py', )),
    Mutation('simgcl_eps_ignored', 'rlmrec_pyg/nn/models/simgcl.py',
             'x = x + self.eps * torch.sign(x) * noise',
             'x = x + 0.1 * torch.sign(x) * noise',
             ('tests/nn/models/test_simgcl.py', )),
    Mutation('dccf_ssl_term_weighted', 'rlmrec_pyg/nn/models/dccf.py',
             'return user_loss / user.numel() + item_loss / num_items',
             'return 1e-3 * (user_loss / user.numel() + item_loss / '
             'num_items)', ('tests/nn/models/test_dccf.py', )),
    Mutation('autocf_ssl_term_weighted', 'rlmrec_pyg/nn/models/autocf.py',
             "return {'ssl': uniform, 'ssl_cross': cross}",
             "return {'ssl': 5.0 * uniform, 'ssl_cross': cross}",
             ('tests/nn/models/test_autocf.py', )),
    # The paper's studies.
    Mutation('shuffle_semantic_ignored', S,
             "if cfg.get('shuffle_semantic'):", 'if False:',
             WIRING),
    Mutation('time_window_ignored', S,
             'if window is not None:\n        transforms.append(',
             'if False:\n        transforms.append(', WIRING),
    Mutation('noise_ratio_ignored', S, 'if ratio > 0:', 'if False:',
             WIRING),
    Mutation('init_from_ignored', R,
             'load_pretrained(cfg.init_from, model.embedding, model.encoder)',
             'pass',
             WIRING),
    Mutation('pretrain_keeps_alignment_downstream', S,
             'down.alignment = None', 'pass', WIRING),
    # Training protocol and evaluation.
    Mutation('train_items_not_masked', E, 'exclude = [store.edge_index]',
             'exclude = []', ('tests/train/test_evaluate.py', )),
    Mutation('mask_val_ignored', E,
             "if split == 'test' and mask_val and VAL_INDEX in store:",
             'if False:', ('tests/train/test_evaluate.py', )),
    Mutation('val_items_always_masked', E,
             "if split == 'test' and mask_val and VAL_INDEX in store:",
             "if split == 'test' and VAL_INDEX in store:",
             ('tests/train/test_evaluate.py', )),
    Mutation('early_stopping_key_not_largest_k', T,
             "key = f'recall@{max(self.ks)}'\n        gen =",
             "key = f'recall@{min(self.ks)}'\n        gen =", WIRING),
    Mutation('patience_ignored', T,
             "if state['counter'] >= self.patience:", 'if False:', WIRING),
    Mutation('eval_every_ignored', T,
             'if epoch % self.eval_every != 0:', 'if False:', WIRING),
    Mutation('best_state_not_restored', T,
             'model.encoder.load_state_dict(best_weights[0])\n'
             '            model.embedding.load_state_dict(best_weights[1])',
             'pass', WIRING),
    Mutation('con_item_negatives_dropped', O,
             'return {USER: [batch.user], ITEM: [batch.pos, batch.neg]}',
             'return {USER: [batch.user], ITEM: [batch.pos]}',
             ('tests/train/test_loop.py', )),
    Mutation('autocf_resample_every_ignored',
             'rlmrec_pyg/nn/models/autocf.py',
             'if batch.step % self.resample_every == 0 or self._graph is '
             'None:', 'if True:', ('tests/train/test_loop.py', )),
    Mutation('kar_gets_no_semantic_inputs', 'rlmrec_pyg/nn/kar.py',
             'self.inputs(x_dict, batch.sem_dict),', 'x_dict,',
             ('tests/train/test_loop.py', )),
    # Data, profiles and vectors.
    Mutation('min_rating_ignored', 'rlmrec_pyg/data/interactions.py',
             '    if min_rating is not None:\n        if rating is None:',
             '    if False:\n        if rating is None:',
             ('tests/data/test_csv.py', )),
    Mutation('k_core_ignored', 'rlmrec_pyg/data/interactions.py',
             'idx = idx[k_core_mask(user[idx], item[idx], k_core)]', 'pass',
             ('tests/data/test_csv.py', )),
    Mutation('user_profiles_see_held_out_items',
             'rlmrec_pyg/profiles/prompt.py',
             'user, item = data[EDGE].edge_index',
             'user, item = data[EDGE].val_edge_index',
             ('tests/profiles/test_profile_prompt.py', )),
    Mutation('include_reasoning_ignored', 'rlmrec_pyg/semantic/attach.py',
             '        if not self.include_reasoning:\n            return '
             'profiles', '        return profiles',
             ('tests/semantic/test_attach_semantic.py', )),
    Mutation('noise_may_hit_held_out_pairs',
             'rlmrec_pyg/data/transforms.py',
             "train, data[EDGE].get(VAL_INDEX, train[:, :0]),",
             "train, train[:, :0],", ('tests/data/test_transforms.py', )),
    # Secrets, caches and the user's tables.
    Mutation('embedding_error_unredacted',
             'rlmrec_pyg/semantic/openai_embedding.py',
             'error = describe_api_error(e, [self._api_key])',
             'error = str(e)',
             ('tests/semantic/test_embedding_secrets.py', )),
    Mutation('batch_error_unredacted', 'rlmrec_pyg/profiles/batch.py',
             'error = profiler.describe_error(e)', 'error = str(e)',
             ('tests/profiles/test_profile_secrets.py', )),
    Mutation('cli_key_not_refused', 'rlmrec_pyg/cli/__init__.py',
             'refuse_secret_overrides(sys.argv[1:])', 'pass',
             ('tests/test_secrets.py', )),
    Mutation('profile_failure_replaces_answer',
             'rlmrec_pyg/profiles/cache.py',
             "if row is not None and row[0] == 'ok':", 'if False:',
             ('tests/profiles/test_profile_cache.py', )),
    Mutation('profile_shards_blind_to_each_other',
             'rlmrec_pyg/profiles/cache.py',
             'return [self._con, *self._others.values()]',
             'return [self._con]', ('tests/profiles/test_profile_cache.py', )),
    Mutation('profile_shard_ignored', 'rlmrec_pyg/profiles/llm.py',
             'index, count = self.shard or (0, 1)', 'index, count = 0, 1',
             ('tests/profiles/test_openai_profiler.py', )),
    Mutation('users_profiled_before_every_item_shard',
             'rlmrec_pyg/profiles/llm.py',
             'if node_type == USER and (self.shard or (0, 1))[1] > 1:',
             'if False:', ('tests/profiles/test_openai_profiler.py', )),
    Mutation('report_base_of_another_backbone', 'rlmrec_pyg/report/runs.py',
             "pair=comparison_key(setting) +\n"
             "                         members[0].get('backbone', ())))",
             'pair=comparison_key(setting)))',
             ('tests/report/test_report.py', )),
    Mutation('batch_plan_not_matched_after_a_kill',
             'rlmrec_pyg/profiles/batch.py',
             "if adopt and plan.get('file_id'):", 'if False:',
             ('tests/profiles/test_profile_batch.py', )),
    Mutation('batch_cap_ignored', 'rlmrec_pyg/profiles/batch.py',
             'if not empty and (requests + len(lines) + 1 > cap_n',
             'if False and (requests + len(lines) + 1 > cap_n',
             ('tests/profiles/test_profile_batch.py', )),
    Mutation('embedding_token_budget_ignored',
             'rlmrec_pyg/semantic/openai_embedding.py',
             'or tokens + cost > TOKEN_BUDGET):', 'or False):',
             ('tests/semantic/test_text_encoders.py', )),
    # The dataset recipe (tests/data/test_raw_reviews.py).
    Mutation('recipe_dedup_keeps_latest', 'rlmrec_pyg/data/recipe/core.py',
             'order = np.lexsort((t, i, u))', 'order = np.lexsort((-t, i, u))',
             ('tests/data/test_raw_reviews.py', )),
    Mutation('recipe_split_never_redrawn', 'rlmrec_pyg/data/recipe/core.py',
             'if bad.size == 0:', 'if True:',
             ('tests/data/test_raw_reviews.py', )),
    Mutation('recipe_reviews_from_every_split',
             'rlmrec_pyg/data/recipe/text.py',
             'train = built.split == 0', 'train = built.split >= 0',
             ('tests/data/test_raw_reviews.py', )),
    Mutation('recipe_user_fraction_ignored', 'rlmrec_pyg/data/recipe/core.py',
             'if fraction >= 1:', 'if True:',
             ('tests/data/test_raw_reviews.py', )),
    Mutation('recommend_seen_not_excluded', 'rlmrec_pyg/recommend/topk.py',
             'pairs = (self._seen_of(batch) if exclude_seen',
             'pairs = (self._seen_of(batch)[:, :0] if exclude_seen',
             ('tests/recommend/test_topk.py', )),
    Mutation('tracking_epochs_not_logged', T,
             "            tracker.log_epoch(row['epoch'], numeric(",
             "            (lambda *a: None)(row['epoch'], numeric(",
             ('tests/train/test_tracking.py', )),
    Mutation('tracking_secrets_not_redacted',
             'rlmrec_pyg/train/tracking.py', '            text = REDACTED\n',
             '            pass\n', ('tests/train/test_tracking.py', )),
    Mutation('cold_items_kept_in_training', 'rlmrec_pyg/data/cold_start.py',
             'store[key] = index[:, ~hit]', 'store[key] = index',
             ('tests/data/test_cold_start.py', )),
    Mutation('cold_feedback_text_kept', 'rlmrec_pyg/data/cold_start.py',
             '[[] if c else v', '[v if c else v',
             ('tests/data/test_cold_start.py', )),
    Mutation('store_resume_ignores_done_chunks',
             'rlmrec_pyg/semantic/store.py',
             'if self.meta is not None and self._chunk_done(chunk_id, start,',
             'if False and self._chunk_done(chunk_id, start,',
             ('tests/semantic/test_vector_store.py', )),
    Mutation('store_texts_not_compared', 'rlmrec_pyg/semantic/store.py',
             'return _pread(fd, len(keys), start * KEY_BYTES) == keys',
             'return True', ('tests/semantic/test_vector_store.py', )),
    Mutation('submitit_tasks_not_data_parallel',
             'rlmrec_pyg/train/distributed.py',
             '    export_submitit_env()\n    if not', '    if not',
             ('tests/cli/test_cluster_launchers.py', )),
    Mutation('vector_shard_never_quarantined', 'rlmrec_pyg/semantic/cache.py',
             'self._quarantine(file, reason)', 'pass',
             ('tests/semantic/test_vector_cache.py', )),
    Mutation('csv_bom_rejected', 'rlmrec_pyg/data/table.py',
             "with open(path, newline='', encoding='utf-8-sig') as f:",
             "with open(path, newline='', encoding='utf-8') as f:",
             ('tests/data/test_csv.py', )),
    # Safety checks of the trust boundary.
    Mutation('torch_load_unsafe', 'rlmrec_pyg/io.py', 'weights_only=True)',
             'weights_only=False)', ('tests/test_hostile_files.py', )),
    Mutation('processed_folder_via_pyg', 'rlmrec_pyg/data/dataset.py',
             'out = torch_load(path, what)',
             'return super().load(path, data_cls)',
             ('tests/test_hostile_files.py', )),
    Mutation('loss_finiteness_unchecked', L,
             'if not math.isfinite(value):', 'if False:',
             ('tests/test_non_finite.py', )),
    Mutation('scores_finiteness_unchecked', 'rlmrec_pyg/data/graph.py',
             'if bool(bad.any()):', 'if False:',
             ('tests/test_non_finite.py', )),
    Mutation('noise_ratio_range_unchecked', S, 'if ratio < 0:', 'if False:',
             ('tests/test_non_finite.py', )),
]


def apply(root: str, m: Mutation) -> str:
    r"""Applies :obj:`m` inside :obj:`root`; returns the original text."""
    path = osp.join(root, m.path)
    with open(path) as f:
        text = f.read()
    count = text.count(m.old)
    if count != 1:
        raise ValueError(f"Mutation '{m.name}': the snippet occurs {count} "
                         f"times in {m.path} (expected once)")
    with open(path, 'w') as f:
        f.write(text.replace(m.old, m.new))
    return text


def pytest(root: str, tests: Tuple[str, ...]) -> int:
    env = dict(os.environ, PYTHONPATH=root, OMP_NUM_THREADS='1',
               PYTHONDONTWRITEBYTECODE='1')
    cmd = [sys.executable, '-m', 'pytest', '-x', '-q', '-p',
           'no:cacheprovider', *tests]
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True,
                          timeout=1800).returncode


def scratch_copy() -> str:
    root = tempfile.mkdtemp(prefix='rlmrec-mutants-')
    for name in COPY:
        src = osp.join(ROOT, name)
        if osp.isdir(src):
            shutil.copytree(src, osp.join(root, name), ignore=shutil.
                            ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copy(src, root)
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--jobs', type=int, default=2)
    parser.add_argument('--only', nargs='*', default=None)
    args = parser.parse_args()
    todo = [m for m in MUTATIONS if not args.only or m.name in args.only]
    roots = [scratch_copy() for _ in range(max(1, args.jobs))]
    free = list(roots)
    baseline = sorted({t for m in todo for t in m.tests})
    start = time.time()
    if pytest(roots[0], tuple(baseline)) != 0:
        print(f'The unmutated tests fail: {baseline}')
        return 2

    def one(m: Mutation) -> Tuple[Mutation, int, float]:
        root = free.pop()
        t0 = time.time()
        original = apply(root, m)
        try:
            return m, pytest(root, m.tests), time.time() - t0
        finally:
            with open(osp.join(root, m.path), 'w') as f:
                f.write(original)
            free.append(root)

    killed = 0
    with ThreadPoolExecutor(len(roots)) as pool:
        for m, rc, secs in pool.map(one, todo):
            verdict = {0: 'SURVIVED', 1: 'killed'}.get(rc, f'error rc={rc}')
            killed += rc == 1
            print(f'{verdict:9s} {m.name:40s} {secs:6.1f}s  '
                  f'{" ".join(m.tests)}', flush=True)
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)
    print(f'Mutation score: {killed}/{len(todo)} killed '
          f'({time.time() - start:.0f} s)')
    return 0 if killed == len(todo) else 1


if __name__ == '__main__':
    sys.exit(main())

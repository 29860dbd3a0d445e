#!/usr/bin/env bash
# A Hydra multirun sweep and its report: LightGCN Base vs RLMRec-Con vs
# RLMRec-Gen on MovieLens (offline profiles + all-MiniLM-L6-v2), two seeds
# each, then one table (mean ± std over seeds, improvement over Base) and
# one figure.
#
#   bash examples/hydra_sweep.sh                    # MovieLens, 6 runs
#   bash examples/hydra_sweep.sh dataset=fake '~semantic'   # fake data, fast
#   bash examples/hydra_sweep.sh model=gccf seed=1,2,3,4,5   # any override
#
# Extra arguments are Hydra overrides appended to the sweep (the last one
# wins). Environment: RLMREC_EXAMPLE_EPOCHS caps the epochs (default 300,
# early stopping usually ends sooner); RLMREC_OUTPUT_DIR / RLMREC_DATA_DIR /
# RLMREC_CACHE_DIR move outputs, datasets and caches (conf/paths,
# conf/semantic); RLMREC_DATA_CACHE names a local mirror of the downloads.
# The same study as an experiment file: experiment=rq1_lightgcn_movielens.
set -euo pipefail

EPOCHS="${RLMREC_EXAMPLE_EPOCHS:-300}"
SWEEP_DIR="${RLMREC_OUTPUT_DIR:-outputs}/examples/hydra_sweep"

# 1. The sweep: 3 alignments x 2 seeds = 6 runs, one after another (add
#    hydra/launcher=parallel for the joblib launcher). Each run writes
#    metrics.json and best.pt into its own numbered folder.
rlmrec-train --multirun \
    dataset=movielens model=lightgcn semantic=minilm domain=movie \
    alignment=none,contrastive,generative seed=1,2 \
    trainer.batch_size=1024 trainer.max_epochs="$EPOCHS" \
    hydra.sweep.dir="$SWEEP_DIR" "$@"

# 2. The report: report.md (Markdown table), summary.json, report.png.
rlmrec-report "$SWEEP_DIR"

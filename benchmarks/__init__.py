r"""The benchmark suite of :mod:`rlmrec_pyg` (see ``benchmarks/README.md``):
run each one from the repository root as ``python -m
benchmarks.<name>``."""

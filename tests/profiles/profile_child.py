r"""Runs the LLM profiler against a given server and cache (the process
that the SIGKILL test kills): ``python profile_child.py URL CACHE_DIR``."""
import sys

from profile_helpers import profiler_kwargs, review_data

from rlmrec_pyg.profiles import OpenAIProfiler

if __name__ == '__main__':
    url, cache_dir = sys.argv[1:3]
    profiler = OpenAIProfiler(**profiler_kwargs(url, cache_dir,
                                                max_concurrency=3))
    profiler(review_data(num_users=30, num_items=40))

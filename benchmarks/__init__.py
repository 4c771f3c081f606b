"""The benchmark harness (`make bench`, `python -m benchmarks`); see `benchmarks/run.py`.

This package init imports nothing, so a child process started as `python -m benchmarks.first_call`
times its own imports from an empty interpreter.
"""

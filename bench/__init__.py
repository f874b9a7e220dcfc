"""Benchmarks, run by hand (never in `make test`); results go to docs/benchmarks.md."""

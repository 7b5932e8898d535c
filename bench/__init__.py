"""`make bench`: measurements behind the figures in docs/benchmarks.md."""

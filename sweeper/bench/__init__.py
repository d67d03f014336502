"""Benchmarks: ``python -m sweeper.bench core`` (build time vs N) and ``python -m sweeper.bench sweep``
(``sweeper -m`` side by side with a plain Hydra app)."""

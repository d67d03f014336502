"""The plain app of ``python -m sweeper.bench sweep``: run it by path, it imports nothing from sweeper."""

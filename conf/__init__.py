# Hydra's configs for sweeper, installed as the package `sweeper.conf` (see pyproject.toml).

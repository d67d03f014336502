# Hydra's configs for sweeper, the package `sweeper.conf`, found by `pkg://sweeper.conf`.

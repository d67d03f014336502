"""The Hydra edge: the ``sweeper`` command, its preflight checks and the sweep's callback."""

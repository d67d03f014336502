"""The W&B edge: one run per job, and the process that carries W&B's work for a sweep. Never imports JAX."""

"""The pure core: models, constructors, the compiled builder, shape checks, diversity, the forward
check, sharding and the memory guard. JAX and Flax only: no Hydra, OmegaConf or W&B."""

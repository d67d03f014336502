"""Pairwise lane statistics by brute force, in float64: the reference the fast paths are held to."""

import itertools

import numpy as np


def numpy_reference(leaves):
    """Pairwise statistics by brute force over explicit lane pairs, in float64."""
    n = next(iter(leaves.values())).shape[0]
    x = np.concatenate([np.asarray(v, np.float64).reshape(n, -1) for v in leaves.values()], axis=1)
    dists, cosines = [], []
    for i, j in itertools.combinations(range(n), 2):
        dists.append(np.linalg.norm(x[i] - x[j]))
        cosines.append(abs(x[i] @ x[j]) / (np.linalg.norm(x[i]) * np.linalg.norm(x[j])))
    distinct = len({row.tobytes() for row in x})
    return distinct, min(dists), float(np.mean(dists)), max(cosines)

"""Online (mini-batch) dictionary learning with sufficient statistics, Mairal et al. (2010).

J. Mairal, F. Bach, J. Ponce & G. Sapiro, "Online learning for matrix factorization and sparse
coding", JMLR 11 (2010), Algorithms 1-2 with the mini-batch extension and the scaling of the
past data of §3.4.  For each mini-batch ``X_t`` (``b × m``, one signal per row) with codes
``C_t`` computed on the current atoms ``D`` (``r × m``, one atom per row)::

    A ← β A + C_tᵀ C_t / b,      B ← β B + X_tᵀ C_t / b      (A: r × r, B: m × r)

and the atoms are updated by one pass of exact block-coordinate descent on the surrogate
``½ tr(D Dᵀ A) − tr(B D)`` (the past squared losses with the codes held fixed) — for atom
``j``: ``dⱼ ← Π(dⱼ + (bⱼ − Dᵀaⱼ)/A_jj)`` with ``Π`` the projection on the unit ℓ2 ball
(Algorithm 2).  Memory is ``O(r² + m r + b m)``, independent of the number of signals.  The
weight ``β`` of the past follows scikit-learn's ``MiniBatchDictionaryLearning`` (its
``_update_inner_stats``): ``β = (θ + 1 − b)/(θ + 1)`` with ``θ = (t + 1)·b`` for the first
``b`` steps and ``θ = b² + t + 1 − b`` afterwards.

The codes of a batch are any function ``encode(X_t, D) → C_t`` supplied by the caller (for
:class:`~homfact.SparseDictionaryLearning`: error-target OMP at its estimated noise level).
:func:`online_initial_factors` (moved unchanged from that estimator) runs the epochs from random
signals as atoms and returns the starting factors of its final certified ``grow``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

__all__ = ["OnlineDictionaryState", "online_dictionary_epochs", "online_initial_factors",
           "update_atoms"]


class OnlineDictionaryState:
    """Sufficient statistics ``A = Σ β·CᵀC/b``, ``B = Σ β·XᵀC/b`` and the step counter."""

    def __init__(self, n_atoms: int, n_features: int):
        self.A = np.zeros((n_atoms, n_atoms))
        self.B = np.zeros((n_features, n_atoms))
        self.step = 0

    def update(self, X: np.ndarray, C: np.ndarray) -> None:
        """Fold one mini-batch (signals ``X``, codes ``C``) into ``A`` and ``B``."""
        b = X.shape[0]
        t = self.step
        theta = (t + 1) * b if t < b - 1 else b * b + t + 1 - b
        beta = (theta + 1 - b) / (theta + 1)
        self.A *= beta
        self.A += C.T @ C / b
        self.B *= beta
        self.B += X.T @ C / b
        self.step += 1


def update_atoms(D: np.ndarray, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """One pass of Mairal et al.'s Algorithm 2, in place on ``D`` (``r × m``, rows = atoms):
    ``dⱼ ← (dⱼ + (bⱼ − Dᵀaⱼ)/A_jj)`` projected on ``‖dⱼ‖₂ ≤ 1``; atoms with ``A_jj = 0`` (unused
    so far) are left unchanged.  Exact minimization of the quadratic surrogate
    ``½ tr(D Dᵀ A) − tr(B D)`` over each atom in turn (on the unit ball), so the surrogate
    never increases."""
    for j in range(D.shape[0]):
        ajj = A[j, j]
        if ajj <= 1e-12 * max(float(np.trace(A)), 1e-300):
            continue
        u = D[j] + (B[:, j] - D.T @ A[:, j]) / ajj
        nu = math.sqrt(float(u @ u))
        D[j] = u / max(nu, 1.0)
    return D


def online_dictionary_epochs(X: np.ndarray, D: np.ndarray,
                             encode: Callable[[np.ndarray, np.ndarray], np.ndarray], *,
                             batch_size: int, n_epochs: float, rng: np.random.Generator,
                             state: OnlineDictionaryState | None = None,
                             deadline: float = math.inf,
                             codes_out: np.ndarray | None = None) -> tuple[
                                 np.ndarray, OnlineDictionaryState, int]:
    """Run ``n_epochs`` passes of mini-batches over the rows of ``X`` (each pass a fresh random
    permutation cut into batches of ``batch_size``, the last one possibly smaller).

    ``D`` (``r × m``) is updated in place and returned with the state and the number of
    mini-batches processed.  Stops early at ``deadline`` (``time.perf_counter()`` value).
    ``X`` is only read one batch at a time (any array supporting row indexing, e.g. a
    ``numpy.memmap``).  ``codes_out`` (``n × r``), when given, receives the latest codes of
    every row coded (rows never coded keep their values).
    """
    n = X.shape[0]
    b = max(1, min(int(batch_size), n))
    state = OnlineDictionaryState(D.shape[0], D.shape[1]) if state is None else state
    n_steps = max(1, math.ceil(n_epochs * n / b))
    done = 0
    while done < n_steps:
        perm = rng.permutation(n)
        for pos in range(0, n, b):
            idx = np.sort(perm[pos:pos + b])
            Xb = np.asarray(X[idx], dtype=float)
            C = encode(Xb, D)
            if codes_out is not None:
                codes_out[idx] = C
            state.update(Xb, C)
            update_atoms(D, state.A, state.B)
            done += 1
            if done >= n_steps or time.perf_counter() > deadline:
                return D, state, done
    return D, state, done


#: the online phase starts from this many random signals per feature as atoms
INIT_ATOMS_PER_FEATURE = 2


def online_initial_factors(X: np.ndarray, Xc: np.ndarray,
                           encode: Callable[[np.ndarray, np.ndarray], np.ndarray], *,
                           batch_size: int, n_epochs: float, max_atoms: int | None,
                           rng: np.random.Generator, deadline: float = math.inf) -> tuple[
                               list[np.ndarray] | None, int]:
    """Starting factors ``[U, V]`` of a final certified ``grow`` on ``Xc`` (``X`` or a subsample
    of its rows) from :func:`online_dictionary_epochs` over ``X``, and the number of mini-batches
    processed.

    The atoms start as ``min(n, 2·n_features, max_atoms)`` distinct random signals of ``X``
    normalized to unit norm (zero signals dropped; ``(None, 0)`` if none is left).  After the
    epochs, ``V`` holds the non-zero atoms as columns; ``U`` is the codes of ``Xc`` on them: the
    codes of the last pass when ``Xc is X``, ``n_epochs ≥ 1`` and every row was coded (each on
    the atoms of its batch's step), otherwise ``encode(Xc, atoms)``.  Atoms that no signal uses
    are dropped; ``None`` when none is used.  ``encode(X_b, D) → C_b`` codes a batch (rows)
    on atoms ``D`` (rows).  Used by :class:`homfact.SparseDictionaryLearning` (docs:
    models/dictionary).
    """
    n, p = X.shape
    b = batch_size
    r0 = min(n, INIT_ATOMS_PER_FEATURE * p)
    if max_atoms is not None:
        r0 = min(r0, int(max_atoms))
    D = np.array(X[np.sort(rng.choice(n, r0, replace=False))], dtype=float)
    nd = np.linalg.norm(D, axis=1)
    D = D[nd > 0] / nd[nd > 0, None]
    if D.shape[0] == 0:
        return None, 0
    # with all rows certified, the codes of the last pass start the final grow
    reuse = Xc is X and float(n_epochs) >= 1.0
    codes = np.zeros((n, D.shape[0])) if reuse else None
    D, _, done = online_dictionary_epochs(X, D, encode, batch_size=b, n_epochs=float(n_epochs),
                                          rng=rng, deadline=deadline, codes_out=codes)
    keep = np.linalg.norm(D, axis=1) > 0
    Vc = np.asfortranarray(D[keep].T)
    if reuse and done * b >= n:  # every row coded (on the atoms of its batch's step)
        U = codes[:, keep]
    else:
        U = encode(Xc, Vc.T)
    used = np.any(U != 0, axis=0)
    if not np.any(used):
        return None, int(done)
    return [np.asfortranarray(U[:, used]), np.asfortranarray(Vc[:, used])], int(done)

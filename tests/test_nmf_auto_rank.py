"""Rank selection of NonnegativeFactorization on clipped data (issue 12): the censored-noise
pruning, the merge start of its trial refits, and that the certificate still describes the
certified factors.  Instances are generated here (seeds outside the tuning seeds 0-9 and the
held-out seeds 100-119 of benchmarks/robust_nmf.py)."""

from __future__ import annotations

import numpy as np
import pytest

import homfact as hf
from homfact.solvers.nmf_merge import _merge_into_partner
from homfact.solvers.nmf_prune import _censored_data


def _clipped(seed, m=300, n=200, k=3, density=0.6, snr=4.0):
    """``Y = max(WH + σE, 0)`` with sparse Gamma factors; ``s_k(WH) = snr·σ(√m + √n)``."""
    rng = np.random.default_rng(seed)
    W = rng.gamma(2.0, 0.5, (m, k)) * (rng.random((m, k)) < density)
    H = rng.gamma(2.0, 0.5, (k, n)) * (rng.random((k, n)) < density)
    X = W @ H
    sigma = np.linalg.svd(X, compute_uv=False)[k - 1] / (snr * (np.sqrt(m) + np.sqrt(n)))
    return np.maximum(X + sigma * rng.standard_normal((m, n)), 0.0), X, sigma


def test_censored_em_recovers_noise_level_at_the_truth():
    Y, X, sigma = _clipped(401)
    cens = Y == 0
    assert cens.mean() > 0.15  # heavily clipped
    s = 0.5 * sigma
    for _ in range(30):
        Z, s = _censored_data(Y, X, s, cens, rank=3)
    assert s == pytest.approx(sigma, rel=0.03)
    # zeros become conditional means below 0; the other entries are kept
    assert np.all(Z[cens] < 0) and np.array_equal(Z[~cens], Y[~cens])
    # clipping makes the noise look smaller to the Marchenko-Pastur estimate
    assert hf.NonnegativeFactorization().fit(Y).noise_level_ < 0.9 * sigma


def test_merge_into_partner_joins_a_split_atom_exactly():
    rng = np.random.default_rng(402)
    w, v = rng.random(30), rng.random(20)
    W = np.column_stack([0.3 * w, 0.7 * w, rng.random(30)])
    V = np.column_stack([v, 2.0 * v, rng.random(20)])
    W2, V2 = _merge_into_partner(W, V, 0)
    assert W2.shape == (30, 2) and V2.shape == (20, 2)
    assert np.all(W2 >= 0) and np.all(V2 >= 0)
    np.testing.assert_allclose(W2 @ V2.T, W @ V.T, atol=1e-12)


@pytest.mark.parametrize("seed", [403, 404])
def test_clipped_data_select_the_true_rank(seed):
    Y, X, sigma = _clipped(seed)
    est = hf.NonnegativeFactorization(random_state=0).fit(Y)
    assert est.n_components_ == 3
    assert est.prune_noise_level_ == pytest.approx(sigma, rel=0.05)
    assert est.n_pruned_ == est.certified_rank_ - est.n_components_
    # the certificate describes the certified (regularized) factors, not the refit
    U, Vt = est.certified_W_, est.certified_components_
    obj = 0.5 * np.linalg.norm(Y - U @ Vt) ** 2 + est.lam_ * np.sum(
        np.linalg.norm(U, axis=0) * np.linalg.norm(Vt, axis=1))
    assert est.certificate_.objective == pytest.approx(obj, rel=1e-8)
    # the censored refit is closer to the signal than scikit-learn's NMF told k
    from sklearn.decomposition import NMF

    peer = NMF(3, init="nndsvda", max_iter=1000, random_state=0)
    err_peer = np.linalg.norm(peer.fit_transform(Y) @ peer.components_ - X)
    assert np.linalg.norm(est.transform(Y) @ est.components_ - X) <= err_peer


def test_unclipped_data_keep_the_marchenko_pastur_level():
    rng = np.random.default_rng(405)
    W, H = 1.0 + rng.gamma(2.0, 0.5, (150, 3)), rng.gamma(2.0, 0.5, (3, 100))
    Y = W @ H + 0.2 * rng.standard_normal((150, 100))
    assert Y.min() > 0
    est = hf.NonnegativeFactorization(random_state=0).fit(Y)
    assert est.prune_noise_level_ == est.noise_level_
    assert est.n_components_ == 3
    assert hf.NonnegativeFactorization(prune=False).fit(Y).prune_noise_level_ is None

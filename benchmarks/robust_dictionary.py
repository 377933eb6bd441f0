"""Robustness family — patch denoising with a learned dictionary, homfact defaults vs sklearn.

One draw (``np.random.default_rng(seed)``): a ``skimage.data`` image among eight (camera, moon,
coins, astronaut (red channel), text, brick, grass, page), a random square crop of 112-200 px
(48 px with ``small=True``), Gaussian noise ``σ`` uniform in [10, 40]/255, patch side 6, 7 or
8, ``n_train`` uniform in [4000, 12000] random patches (600 with ``small=True``) for learning,
their means removed.  Every overlapping patch of the noisy crop is then coded, rebuilt
(``codes @ atoms + mean``), averaged back into an image and scored by PSNR against the clean
crop.  ``small=True`` is a smoke test (48 px, 600 patches, scikit-learn's epochs capped at 50);
its timings say nothing about the criterion.

* homfact: ``SparseDictionaryLearning(random_state=seed)`` with its defaults (``lam``, ``gamma``
  and the number of atoms chosen from the data; its own default ``transform``, error-target
  OMP at the estimated noise level).
* peer: scikit-learn ``MiniBatchDictionaryLearning(n_components=100, random_state=seed)`` with
  its defaults, patches coded by its ``transform`` (scikit-learn's denoising recipe) with the
  default OMP (``n_features/10`` atoms) and with 2 atoms (its denoising example); the better
  of the two, chosen with the clean image, is the peer's score.
* reported, not part of the criterion: an *oracle* peer, the same scikit-learn atoms coded by
  ``orthogonal_mp_gram`` with the K-SVD error target ``(1.15·σ)²·n_features`` at the *true*
  ``σ`` (``psnr_peer_oracle``, ``psnr_diff_oracle_db``), which homfact (estimating ``σ``)
  does not get; scikit-learn's ``transform`` cannot do this (it ignores ``transform_alpha``
  for OMP).

Success (issue 12): ``time ≤ 2 × time_peer`` and ``PSNR ≥ PSNR_peer − 0.3 dB``, where a
method's time is its fit plus the coding of every patch (for the peer: the chosen coding).
``error`` is the RMSE of the denoised image against the clean crop (images in [0, 1]; the
PSNR criterion is ``error ≤ 1.035·error_peer``).
The fit times alone are reported too (``time_fit``, ``time_fit_peer``).
"""

from __future__ import annotations

import time
import warnings

import numpy as np

FAMILY = "dictionary denoising"
PEER = "sklearn MiniBatchDictionaryLearning(n_components=100)"

IMAGES = ("camera", "moon", "coins", "astronaut", "text", "brick", "grass", "page")
TARGET_DB = -0.3
TARGET_TIME_RATIO = 2.0


def load_image(name: str) -> np.ndarray:
    """A gray ``skimage.data`` image scaled to [0, 1] (``astronaut``: its red channel)."""
    from skimage import data

    img = getattr(data, name)()
    if img.ndim == 3:
        img = img[..., 0]
    return img.astype(float) / 255.0


def patches(noisy: np.ndarray, side: int):
    """``(centred patches, patch means)`` of every overlapping ``side × side`` patch."""
    from sklearn.feature_extraction.image import extract_patches_2d

    P = extract_patches_2d(noisy, (side, side)).reshape(-1, side * side)
    means = P.mean(axis=1, keepdims=True)
    return P - means, means


def rebuild(codes: np.ndarray, atoms: np.ndarray, means: np.ndarray, shape, side: int):
    """Average the coded patches back into an image, clipped to [0, 1]."""
    from sklearn.feature_extraction.image import reconstruct_from_patches_2d

    R = (codes @ atoms + means).reshape(-1, side, side)
    return np.clip(reconstruct_from_patches_2d(R, shape), 0.0, 1.0)


def psnr(clean: np.ndarray, img: np.ndarray) -> float:
    return float(10.0 * np.log10(1.0 / np.mean((clean - img) ** 2)))


def denoise_pair(clean: np.ndarray, sigma: float, side: int, n_train: int, seed: int,
                 homfact_kwargs: dict | None = None, peer_components: int = 100,
                 peer_kwargs: dict | None = None) -> dict:
    """Both methods on one noisy image; the metrics of the module docstring (``peer_kwargs``:
    extra parameters of the scikit-learn estimator, for smoke runs only)."""
    from sklearn.decomposition import MiniBatchDictionaryLearning
    from sklearn.linear_model import orthogonal_mp_gram

    import homfact as hf

    rng = np.random.default_rng(seed)
    noisy = clean + sigma * rng.standard_normal(clean.shape)
    P, means = patches(noisy, side)
    idx = np.sort(rng.choice(P.shape[0], min(n_train, P.shape[0]), replace=False))
    train = P[idx]
    # homfact, defaults
    t0 = time.perf_counter()
    model = hf.SparseDictionaryLearning(random_state=seed, **(homfact_kwargs or {})).fit(train)
    t_fit = time.perf_counter() - t0
    codes = model.transform(P)
    t_hf = time.perf_counter() - t0
    img_hf = rebuild(codes, model.components_, means, clean.shape, side)
    # peer
    t0 = time.perf_counter()
    sk = MiniBatchDictionaryLearning(n_components=peer_components, random_state=seed,
                                     **(peer_kwargs or {})).fit(train)
    t_fit_sk = time.perf_counter() - t0
    D = sk.components_
    scores, times = {}, {}
    for name in ("transform omp (default)", "transform omp 2 atoms", "omp error target"):
        t1 = time.perf_counter()
        if name == "omp error target":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                C = orthogonal_mp_gram(D @ D.T, D @ P.T, tol=(1.15 * sigma) ** 2 * P.shape[1],
                                       norms_squared=np.einsum("ij,ij->i", P, P)).T
        else:
            sk.set_params(transform_algorithm="omp", transform_n_nonzero_coefs=(
                2 if "2 atoms" in name else None))
            C = sk.transform(P)
        times[name] = time.perf_counter() - t1
        scores[name] = psnr(clean, rebuild(C, D, means, clean.shape, side))
    best = max(("transform omp (default)", "transform omp 2 atoms"), key=scores.get)
    out = {
        "psnr_noisy": psnr(clean, noisy), "psnr": psnr(clean, img_hf),
        "psnr_peer": scores[best], "peer_setting": best, "peer_scores": scores,
        "psnr_peer_oracle": scores["omp error target"],
        "time": t_hf, "time_fit": t_fit, "time_peer": t_fit_sk + times[best],
        "time_peer_oracle": t_fit_sk + times["omp error target"],
        "time_fit_peer": t_fit_sk, "n_components": model.n_components_,
        "noise_level": model.noise_level_, "lam": model.lam_, "gamma": model.gamma_,
        "status": model.certificate_.status, "relative_gap": model.certificate_.relative_gap,
        "stop_reason": model.stop_reason_, "n_patches": P.shape[0],
    }
    out["psnr_diff_oracle_db"] = out["psnr"] - out["psnr_peer_oracle"]
    out["psnr_diff_db"] = out["psnr"] - out["psnr_peer"]
    out["time_ratio"] = out["time"] / out["time_peer"]
    out["fit_time_ratio"] = out["time_fit"] / out["time_fit_peer"]
    return out


def draw(seed: int, small: bool = False) -> dict:
    """The randomized parameters of one draw."""
    rng = np.random.default_rng(seed)
    image = IMAGES[int(rng.integers(len(IMAGES)))]
    size = 48 if small else int(rng.integers(112, 201))
    sigma = float(rng.uniform(10, 40)) / 255.0
    side = int(rng.integers(6, 9))
    n_train = 600 if small else int(rng.integers(4000, 12001))
    u, v = rng.random(2)
    return {"image": image, "size": size, "sigma": sigma, "patch": side, "n_train": n_train,
            "top_frac": float(u), "left_frac": float(v)}


def trial(seed: int, small: bool = False) -> dict:
    """One draw, homfact defaults vs the peer (see the module docstring)."""
    params = draw(seed, small)
    img = load_image(params["image"])
    size = min(params["size"], *img.shape)
    top = int(params["top_frac"] * (img.shape[0] - size))
    left = int(params["left_frac"] * (img.shape[1] - size))
    clean = img[top:top + size, left:left + size]
    # small (a smoke test for the test suite): scikit-learn's epochs capped at 50 (on 600
    # patches its early stopping may not trigger before its default 1000)
    r = denoise_pair(clean, params["sigma"], params["patch"], params["n_train"], seed,
                     peer_kwargs={"max_iter": 50} if small else None)
    success = (r["psnr_diff_db"] >= TARGET_DB) and (r["time_ratio"] <= TARGET_TIME_RATIO)
    # error: RMSE of the denoised image (lower is better; PSNR = −20·log10(RMSE), so the
    # −0.3 dB criterion is an RMSE ratio ≤ 10^(0.3/20) ≈ 1.035)
    return {"success": bool(success), "error": 10.0 ** (-r["psnr"] / 20.0),
            "error_peer": 10.0 ** (-r["psnr_peer"] / 20.0),
            "time": r["time"], "time_peer": r["time_peer"], "params": params,
            "psnr": r["psnr"], "psnr_peer": r["psnr_peer"], "psnr_diff_db": r["psnr_diff_db"],
            "time_fit": r["time_fit"], "time_fit_peer": r["time_fit_peer"],
            "fit_time_ratio": r["fit_time_ratio"], "n_components": r["n_components"],
            "noise_level": r["noise_level"], "status": r["status"],
            "peer_setting": r["peer_setting"], "psnr_peer_oracle": r["psnr_peer_oracle"],
            "psnr_diff_oracle_db": r["psnr_diff_oracle_db"]}

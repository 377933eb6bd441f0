"""Benchmark 5 — CP tensor factorization: homfact (rank growth + refit) versus TensorLy parafac.

Instance: ``T = Σᵢ aᵢ∘bᵢ∘cᵢ`` with i.i.d. N(0, 1) factors (100×100×100, CP rank 10), scaled to
``‖T‖_F = 1``, plus Gaussian noise with ``‖N‖_F = 0.01‖T‖_F`` (1 %).  ``Y = T + N``.

Methods, in one process, each under the same BLAS thread limit:

* **parafac** ``tensorly.decomposition.parafac(Y, rank=10)`` with its defaults (SVD init,
  ``n_iter_max=100``, ``tol=1e-8``): told the true rank.  Best of ``repeat``.
* **homfact** ``hf.CPTensorFactorization(lam=frac·λ_max)`` (not told the rank; ``λ_max`` is the
  HOPM lower end of the bracket from ``cp_lam_max``, timed separately) for several ``frac``.
  Time includes rank growth, the certificate of every outer iteration and the debiasing refit.

Reported: the selected rank, relative error ``‖Y − Ŷ‖/‖Y‖`` of the refit model, the
factor-match score (congruence product with the optimal assignment, 1 = perfect) of the
certified and refit factors against the truth, time, the certificate status, and the ratios
``err_homfact/err_parafac`` (target ≤ 1.02) and ``t_homfact/t_parafac`` (target ≤ 2).

Run ``python benchmarks/bench_cp.py [--quick] [--size N --rank R --seed S --noise 0.01
--fracs 0.05 0.1 --repeat 2]``; ``main(quick=True)`` takes about a second.  A run with any of
the overrides writes ``results/cp_n{N}_r{R}_s{S}[_quick].json`` (the preset's file is kept).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

from benchutil import bench_argparser, best_of, blas_threads, print_table, write_results  # noqa: E402

import homfact as hf  # noqa: E402
from homfact.models.cp import cp_lam_max, factor_match_score  # noqa: E402

TARGET_ERROR_RATIO = 1.02
TARGET_TIME_RATIO = 2.0


def make_instance(n: int, rank: int, noise: float = 0.01, seed: int = 0):
    """``(Y, true factors)`` with ``‖T‖_F = 1`` and ``‖N‖_F = noise``."""
    rng = np.random.default_rng(seed)
    F = [rng.standard_normal((n, rank)) for _ in range(3)]
    T = np.einsum("ia,ja,ka->ijk", *F)
    s = np.linalg.norm(T)
    F = [F[0] / s, F[1], F[2]]
    N = rng.standard_normal(T.shape)
    return T / s + noise * N / np.linalg.norm(N), F


def _parafac(Y: np.ndarray, rank: int):
    from tensorly.decomposition import parafac
    return parafac(Y, rank)


def run(n: int, rank: int, fracs: tuple[float, ...], repeat: int, noise: float = 0.01,
        seed: int = 0) -> dict:
    Y, F = make_instance(n, rank, noise, seed)
    ynorm = float(np.linalg.norm(Y))
    out: dict = {"instance": {"shape": [n, n, n], "rank": rank, "noise": noise, "seed": seed}}
    try:
        import tensorly
        from tensorly.cp_tensor import cp_to_tensor
    except ImportError:
        out["parafac"] = {"skipped": "tensorly not installed"}
        tp = ep = None
    else:
        tp, times, cp = best_of(lambda: _parafac(Y, rank), repeat)
        ep = float(np.linalg.norm(Y - cp_to_tensor(cp))) / ynorm
        out["parafac"] = {"version": tensorly.__version__, "time_s": tp, "times": times,
                          "rel_error": ep, "fms": factor_match_score(F, cp)}
    t0 = time.perf_counter()
    lm = cp_lam_max(Y, random_state=0)
    out["lam_max"] = {"lower": lm.lower, "upper": lm.upper, "time_s": time.perf_counter() - t0}
    rows = []
    for frac in fracs:
        lam = frac * lm.lower

        def fit(lam=lam):
            return hf.CPTensorFactorization(lam=lam, random_state=0).fit(Y)

        t, times, m = best_of(fit, repeat)
        err = float(np.linalg.norm(Y - m.to_tensor())) / ynorm
        row = {"frac": frac, "lam": lam, "rank": m.rank_, "time_s": t, "times": times,
               "rel_error": err, "fms_certified": factor_match_score(F, m.certified_factors_),
               "fms_refit": factor_match_score(F, m.factors_) if m.debiased_ else None,
               "status": m.certificate_.status, "relative_gap": m.certificate_.relative_gap,
               "polar_lower": m.certificate_.polar_lower,
               "polar_upper": m.certificate_.polar_upper, "stop_reason": m.stop_reason_,
               "refit_iter": (m.debias_info_ or {}).get("n_iter"), "outer_iter": m.n_iter_}
        if tp is not None:
            row["ratio_time_over_parafac"] = t / tp
            row["ratio_error_over_parafac"] = err / ep
        rows.append(row)
    out["homfact"] = rows
    return out


def report(res: dict) -> None:
    p = res["parafac"]
    inst = res["instance"]
    print(f"instance {inst['shape']}, CP rank {inst['rank']}, noise {inst['noise']:g}; "
          f"lam_max in [{res['lam_max']['lower']:.4g}, {res['lam_max']['upper']:.4g}] "
          f"({res['lam_max']['time_s']:.2f} s)")
    rows = []
    if "time_s" in p:
        rows.append([f"tensorly {p['version']} parafac (rank given)", "-", inst["rank"],
                     p["time_s"], p["rel_error"], p["fms"], "-", "-", "-", "-"])
    for h in res["homfact"]:
        rows.append([f"homfact lam={h['frac']:g}*lam_max", h["lam"], h["rank"], h["time_s"],
                     h["rel_error"], h["fms_refit"], h["fms_certified"], h["status"],
                     h.get("ratio_time_over_parafac"), h.get("ratio_error_over_parafac")])
    print_table("CP: homfact vs parafac (one run)",
                ["method", "lam", "rank", "time [s]", "rel err", "FMS", "FMS cert",
                 "status", "t/t_parafac", "err/err_parafac"], rows)


def main(quick: bool = True, out_dir=None, blas: int | None = 1, *, size: int | None = None,
         rank: int | None = None, seed: int | None = None, noise: float | None = None,
         fracs: tuple[float, ...] | None = None, repeat: int | None = None) -> dict:
    """Run the CP benchmark (``quick``: 30×30×30, rank 4; else 100³ rank 10) and return it.

    ``size``/``rank``/``seed``/``noise``/``fracs``/``repeat`` override the preset's values.
    """
    if quick:
        cfg = {"n": 30, "rank": 4, "fracs": (0.1,), "repeat": 1}
    else:
        cfg = {"n": 100, "rank": 10, "fracs": (0.05, 0.1, 0.2), "repeat": 2}
    custom = False
    for key, val in (("n", size), ("rank", rank), ("seed", seed), ("noise", noise),
                     ("fracs", fracs), ("repeat", repeat)):
        if val is not None:
            cfg[key] = tuple(val) if key == "fracs" else val
            custom = True
    with blas_threads(blas):
        res = run(**cfg)
    res["target_error_ratio"] = TARGET_ERROR_RATIO
    res["target_time_ratio"] = TARGET_TIME_RATIO
    res["blas_threads"] = blas
    report(res)
    name = "cp"
    if custom:  # keep the preset's result file; name the custom instance
        inst = res["instance"]
        name = f"cp_n{inst['shape'][0]}_r{inst['rank']}_s{inst['seed']}"
    path = write_results(name, res, quick, out_dir)
    print(f"results -> {path}")
    return res


if __name__ == "__main__":
    ap = bench_argparser(__doc__)
    ap.add_argument("--size", type=int, default=None, help="mode size n of the n×n×n tensor")
    ap.add_argument("--rank", type=int, default=None, help="true CP rank")
    ap.add_argument("--seed", type=int, default=None, help="instance seed")
    ap.add_argument("--noise", type=float, default=None, help="relative noise (0.01 = 1 %%)")
    ap.add_argument("--fracs", type=float, nargs="+", default=None,
                    help="lam / lam_max values for homfact")
    ap.add_argument("--repeat", type=int, default=None, help="best of this many runs")
    a = ap.parse_args()
    main(quick=a.quick, blas=a.blas_threads or None, size=a.size, rank=a.rank, seed=a.seed,
         noise=a.noise, fracs=a.fracs, repeat=a.repeat)

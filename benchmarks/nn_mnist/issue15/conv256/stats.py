"""Pool the CPU conv runs at 256 digits (outside the protocol table): none (hinge, CE; 5
subsets) and the product of norms with 4-fold CV (hinge; seed 0 from the WD+PN run, seeds 1-4
from PN-only runs; the batched groups are independent, so a block's fits do not depend on
which other blocks train beside it).  Prints mean ± std and PN − none with its 95% t-interval.

    python benchmarks/nn_mnist/issue15/conv256/stats.py
"""

import json
from pathlib import Path

import numpy as np
from scipy import stats

HERE = Path(__file__).resolve().parent


def rows(name):
    return json.loads((HERE / name).read_text())["results"]


def main():
    none_h = {r["seed"]: r["none"] for r in rows("none_hinge_seeds0-4.json")}
    none_ce = {r["seed"]: r["none"] for r in rows("none_ce_seeds0-4.json")}
    pn = {r["seed"]: r for f in ("wd_pn_hinge_seed0.json", "pn_hinge_seeds1-2.json",
                                  "pn_hinge_seeds3-4.json") for r in rows(f)}
    for name, v in (("none, hinge", none_h), ("none, CE", none_ce)):
        a = np.array(list(v.values()))
        print(f"{name}: {a.mean():.2f} ± {a.std():.2f} over seeds {sorted(v)}")
    seeds = sorted(pn)
    if any(abs(pn[s]["none"] - none_h[s]) > 1e-9 for s in seeds):
        raise SystemExit("'none' differs between the runs of one seed")
    p = np.array([pn[s]["pn"] for s in seeds])
    d = p - np.array([none_h[s] for s in seeds])
    half = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    print(f"PN, hinge: {p.mean():.2f} ± {p.std():.2f}; PN - none {d.mean():+.2f} "
          f"[{d.mean() - half:+.2f}, {d.mean() + half:+.2f}] (per seed {np.round(d, 2)}); "
          f"chosen λ {[pn[s]['pn_lam'] for s in seeds]}")
    r0 = pn[0]
    print(f"seed 0 only: WD {r0['wd']:.2f} (λ {r0['wd_lam']}), PN {r0['pn']:.2f}, "
          f"none {r0['none']:.2f}")


if __name__ == "__main__":
    main()

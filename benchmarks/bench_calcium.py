"""Calcium segmentation: suite2p's cell detection on the videos of ``robust_calcium.py``.

suite2p (Pachitariu et al. 2017) is not a homfact dependency: it pulls in PyTorch (about 6 GB
with its CUDA wheels), so it is best installed in a separate environment, e.g.::

    python -m venv /tmp/s2p && /tmp/s2p/bin/pip install suite2p
    PYTHONPATH=src /tmp/s2p/bin/python benchmarks/bench_calcium.py 100 101 102

(``suite2p`` 1.1.0 installed that way in about 8 minutes; homfact needs only numpy, scipy and
scikit-learn, which suite2p brings.)  For each seed the video of
``robust_calcium.draw_params(seed)`` is passed, as a ``frames × rows × cols`` float32 movie
(already registered: the synthetic videos have no motion), to
``suite2p.detection.detect.detection_wrapper`` with its default detection settings
(``algorithm="sparsery"``), ``diameter=[5, 5]`` px (the generator's blobs have standard
deviations 1.5-3 px), ``fs=5`` Hz and ``tau`` = the movie's decay time, on the CPU.  Each
ROI's pixel weights ``lam`` form its footprint; footprints are matched to the truth with the
two rules of ``robust_calcium.py`` (binarized at 0.2 and at 0.5 of the peak, Hungarian on
IoU, found when IoU ≥ 0.5).  Without suite2p the script says so and exits with status 0.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

import robust_calcium  # noqa: E402

from homfact.datasets import blob_calcium_video  # noqa: E402


def suite2p_footprints(Y: np.ndarray, shape: tuple[int, int], decay: float,
                       frame_rate: float = 5.0) -> np.ndarray:
    """suite2p's ROIs on the ``pixels × frames`` movie ``Y`` as a ``pixels × n_rois`` array."""
    import torch
    from suite2p import default_settings
    from suite2p.detection.detect import detection_wrapper

    torch.set_num_threads(1)
    mov = np.ascontiguousarray(Y.T.reshape(-1, *shape), dtype=np.float32)
    tau = -1.0 / (frame_rate * np.log(decay))
    _, stat, _ = detection_wrapper(mov, diameter=[5.0, 5.0], tau=tau, fs=frame_rate,
                                   settings=default_settings()["detection"],
                                   device=torch.device("cpu"))
    F = np.zeros((Y.shape[0], len(stat)))
    for i, roi in enumerate(stat):
        F[np.asarray(roi["ypix"]) * shape[1] + np.asarray(roi["xpix"]), i] = roi["lam"]
    return F


def main(seeds) -> list[dict]:
    try:
        import suite2p  # noqa: F401
    except ImportError:
        print("suite2p is not installed in this environment (see the module docstring)")
        return []
    rows = []
    for seed in seeds:
        params = robust_calcium.draw_params(seed)
        data = blob_calcium_video(**params)
        t0 = time.perf_counter()
        F = suite2p_footprints(data.Y, data.shape, data.decay)
        elapsed = time.perf_counter() - t0
        rates = robust_calcium.match_rates(F, data.spatial)
        rows.append({"seed": seed, "n_neurons": params["n_neurons"], "n_rois": F.shape[1],
                     "rate_02": rates[0], "rate_05": rates[1], "time": elapsed})
        print(f"seed {seed}: k={params['n_neurons']} suite2p ROIs {F.shape[1]}, found "
              f"{rates[0]:.2f} (0.2 rule) / {rates[1]:.2f} (0.5 rule), {elapsed:.2f} s",
              flush=True)
    if rows:
        worst = min(min(r["rate_02"], r["rate_05"]) for r in rows)
        print(f"worst min-rate {worst:.3f} over {len(rows)} videos")
    return rows


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("seeds", type=int, nargs="*", default=list(range(100, 120)))
    main(ap.parse_args().seeds)

"""The output representation protocol (docs: theory/problem-class, 'The output
representation'): the squared loss and its dual work on any object with ``+``, ``−``, unary
``−``, ``*`` by a float and a ``vdot`` method, and give the same numbers as on NumPy arrays."""

from __future__ import annotations

import numpy as np
import pytest

from homfact.losses import SquaredLoss, _vdot


class BlockVec:
    """A vector held in pieces (the shape a distributed output takes)."""

    def __init__(self, parts):
        self.parts = [np.asarray(p, dtype=float) for p in parts]

    def __add__(self, other):
        return BlockVec([a + b for a, b in zip(self.parts, other.parts, strict=True)])

    def __sub__(self, other):
        return BlockVec([a - b for a, b in zip(self.parts, other.parts, strict=True)])

    def __neg__(self):
        return BlockVec([-a for a in self.parts])

    def __mul__(self, c: float):
        return BlockVec([a * c for a in self.parts])

    __rmul__ = __mul__

    def vdot(self, other) -> float:
        return float(sum(a @ b for a, b in zip(self.parts, other.parts, strict=True)))

    def flat(self) -> np.ndarray:
        return np.concatenate(self.parts)


@pytest.mark.parametrize("seed", range(5))
def test_squared_loss_on_pieces_equals_numpy(seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 6, size=4)
    y = BlockVec([rng.standard_normal(k) for k in sizes])
    z = BlockVec([rng.standard_normal(k) for k in sizes])
    d = BlockVec([rng.standard_normal(k) for k in sizes])
    blocked, flat = SquaredLoss(y), SquaredLoss(y.flat())
    assert blocked.y is y  # kept as the caller's representation
    g, gf = blocked.neg_gradient(z), flat.neg_gradient(z.flat())
    np.testing.assert_allclose(g.flat(), gf, rtol=0, atol=1e-15)
    assert blocked.value(z) == pytest.approx(flat.value(z.flat()), rel=1e-14)
    c = blocked.best_dual_scale(g, 0.7)
    assert c == pytest.approx(flat.best_dual_scale(gf, 0.7), rel=1e-14)
    assert blocked.dual_value(g * c) == pytest.approx(flat.dual_value(gf * c), rel=1e-13)
    assert blocked.line_search(z, d, 0.3) == pytest.approx(flat.line_search(z.flat(), d.flat(),
                                                                            0.3), rel=1e-13)
    assert _vdot(g, d) == pytest.approx(float(gf @ d.flat()), rel=1e-14)

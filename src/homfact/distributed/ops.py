"""Distributed kernels on :class:`~homfact.distributed.BlockedEntries`: ALS sweeps and residuals.

The factors ``U`` (m×r) and ``V`` (n×r) are NumPy arrays on the client.  Objective (as
:func:`homfact.solvers.als.als_masked`)::

    f(U, V) = ½‖P_Ω(Y − UVᵀ)‖² + (λ/2)(‖U‖²_F + ‖V‖²_F).

**Half-sweep** (:func:`half_sweep`, side ``"rows"``: solve ``U`` given ``V``): every row ``i``
solves its ridge problem over its observed entries ``Ω_i``,

    u_i = (V_{Ω_i}ᵀ V_{Ω_i} + λI)⁻¹ V_{Ω_i}ᵀ y_{Ω_i},

with the helpers of ``als_masked(method="exact")`` (:func:`homfact.solvers.als._exact_rows`,
hence ``_row_grams``, the ``1e-12`` ridge at ``λ = 0``, one BLAS thread), on the same CSR order,
so a sweep equals the single-machine sweep to rounding.  Side ``"cols"`` is the same on ``Yᵀ``.
Task pattern, a fixed ``≤ B + B² + 2B`` tasks per half-sweep (Spark ALS's in/out blocks):

1. ``B`` *root* tasks hold the other side's factor, split by block (``V[c::B]``), as literal
   arguments — recomputable, unlike ``client.scatter``;
2. one *extraction* task per block pair ``(b, c)`` with ``ref_counts[b, c] > 0``: block ``c`` of
   the other side cuts out the rows block ``b`` references (it runs next to block ``c``, so a
   block receives only the factor rows it needs);
3. one *solve* task per block: CSR products, the row-wise solves and, when asked, the residual
   ``r_b = y_b − (UVᵀ)_b`` at its entries and ``½‖r_b‖²`` (kept on the worker);
4. one small task per block returns ``(rows of the new factor, ½‖r_b‖²)`` to the client.

In :func:`exact_sweep` the column half takes the new rows of ``U`` straight from the row
solves' results on the workers (extraction tasks on those futures; no root tasks, no round trip
through the client), and the client gathers ``U`` and ``V`` at the end.  A sweep is thus
``B`` roots, ``≤ 2B²`` extractions, ``2B`` solves and ``2B`` gathers.  Each sweep starts again
from the client's ``V``, so its graph never reaches back into the previous one; nothing of a
sweep is referenced once the next one has replaced its residual, and the scheduler forgets it:
the graph holds the blocks plus one sweep (a test counts the scheduler's tasks over 10 sweeps).

**Loss of a worker.** Every input of a sweep is a task result (blocks built from a graph, factor
pieces from root tasks with literal arguments), so when a worker dies the scheduler recomputes
the lost results from their recipes and the sweep returns the same numbers.

**Residual.** The solve tasks keep ``r_b``; :func:`exact_sweep` and :func:`residual` return
them as a :class:`homfact.distributed.BlockResidual` (``"cols"`` after :func:`exact_sweep`,
whose last half solves ``V``; :func:`residual` builds either side): the
:class:`homfact.distributed.BlockOperator` of ``R = P_Ω(Y − UVᵀ)``, with its products, exact
norms and formed Gram, so one operator and one bound serve the sweeps and the polar.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..maps import masked_dot
from ..solvers.als import LocalResult, _exact_rows
from ..tolerance import relative_to
from .blocks import BlockedEntries, SideBlock, _hold, gather_or_cancel

if TYPE_CHECKING:
    from .maps import BlockResidual

__all__ = ["HalfSweep", "SweepResult", "als_exact", "exact_sweep", "half_sweep", "residual"]


# --------------------------------------------------------------------------------------------
# worker-side tasks


@dataclass(eq=False)
class BlockState:
    """One block's result: its new factor rows (or ``None``), its residual and ``½‖r_b‖²``."""

    factor: np.ndarray | None
    residual: np.ndarray | None
    half_sq: float


def extract_rows(block: SideBlock, piece: np.ndarray | BlockState, requester: int
                 ) -> np.ndarray:
    """Rows of ``piece`` (this block's factor rows, or the solve that made them) that block
    ``requester`` references."""
    F = piece.factor if isinstance(piece, BlockState) else piece
    return F[block.served_rows(requester)]


def _block_residual(block: SideBlock, own: np.ndarray, other: np.ndarray
                    ) -> tuple[np.ndarray, float]:
    """``r = y_b − (F_b F_otherᵀ)`` at the block's entries and ``½‖r‖²``."""
    r = block.values - masked_dot(own, other, block.entry_rows(), block.compact)
    return r, 0.5 * float(r @ r)


def solve_block(block: SideBlock, lam: float, want_residual: bool, *pieces: np.ndarray
                ) -> BlockState:
    """Exact row-wise ridge on one block: ``x_l = (F_lᵀF_l + λI)⁻¹ F_lᵀ y_l`` for each local row.

    ``pieces`` are the other side's factor rows for ``block.ref_cols``, by other-side block.
    """
    F = np.concatenate(pieces, axis=0)
    X = _exact_rows(block.matrix(), F, lam)
    if not want_residual:
        return BlockState(X, None, float("nan"))
    r, half = _block_residual(block, X, F)
    return BlockState(X, r, half)


def residual_block(block: SideBlock, own: np.ndarray, *pieces: np.ndarray) -> BlockState:
    """Residual of one block for given factors (no solve)."""
    r, half = _block_residual(block, own, np.concatenate(pieces, axis=0))
    return BlockState(None, r, half)


def factor_and_half(state: BlockState) -> tuple[np.ndarray, float]:
    return state.factor, state.half_sq


# --------------------------------------------------------------------------------------------
# client side


def as_vector(x, n: int, name: str) -> np.ndarray:
    """``x`` as a float vector of length ``n`` (an ``n × 1`` column, as scipy's
    ``LinearOperator`` passes it, is flattened); a ``ValueError`` naming ``name`` otherwise."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x.reshape(-1)
    if x.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {x.shape}")
    return x


def _check_factor(F, rows: int, name: str, r: int | None = None) -> np.ndarray:
    F = np.asarray(F, dtype=float)
    if F.ndim != 2 or F.shape[0] != rows or (r is not None and F.shape[1] != r):
        want = f"({rows}, {'r' if r is None else r})"
        raise ValueError(f"{name} must have shape {want}, got {F.shape}")
    if not np.all(np.isfinite(F)):
        raise ValueError(f"{name} has NaN or infinite values")
    return np.ascontiguousarray(F)


def _check_lam(lam) -> float:
    if isinstance(lam, bool) or not isinstance(lam, int | float | np.integer | np.floating):
        raise TypeError(f"lam must be a real number, got {type(lam).__name__}")
    lam = float(lam)
    if not np.isfinite(lam) or lam < 0:
        raise ValueError(f"lam must be finite and >= 0, got {lam}")
    return lam


def _near(holders: dict, block) -> dict:
    """Placement of a task next to ``block``: a loose restriction to a worker holding it.

    Without it the scheduler may balance load by moving a whole block (``12·nnz_b`` bytes) to
    an idle worker; ``allow_other_workers`` keeps the task runnable when that worker is gone.
    """
    ws = holders.get(block.key) or ()
    return {"workers": list(ws)[:1], "allow_other_workers": True} if ws else {}


def _holders(entries: BlockedEntries) -> dict:
    """Current location of every block (one scheduler round trip)."""
    return entries.client.who_has(entries.blocks["rows"] + entries.blocks["cols"])


def _other_pieces(entries: BlockedEntries, side: str, F_other: np.ndarray | list, r: int,
                  holders: dict) -> list[list]:
    """``pieces[b][c]``: future (or empty literal) of the rows of the other side's factor that
    block ``b`` of ``side`` references in block ``c`` of the other side (steps 1-2).

    ``F_other``: the factor on the client (sent as ``B`` root tasks), or the ``B`` futures of the
    other side's solves of this sweep (their factors are already on the workers).
    """
    client, B = entries.client, entries.n_blocks
    serving = entries.blocks[entries.other(side)]
    if isinstance(F_other, np.ndarray):
        roots = [client.submit(_hold, np.ascontiguousarray(F_other[c::B]), pure=False,
                               **_near(holders, serving[c])) for c in range(B)]
    else:
        roots = F_other
    counts = entries.ref_counts[side]
    empty = np.empty((0, r))
    return [[client.submit(extract_rows, serving[c], roots[c], b, pure=False,
                           **_near(holders, serving[c]))
             if counts[b, c] else empty for c in range(B)] for b in range(B)]


@dataclass
class HalfSweep:
    """New factor of the solved side, ``Σ_b ½‖r_b‖²`` (NaN without residual), the residual."""

    factor: np.ndarray
    half_sq: float
    residual: BlockResidual | None


@dataclass
class SweepResult:
    """Factors after one sweep, the objective ``f(U, V)`` and the residual (column blocks)."""

    U: np.ndarray
    V: np.ndarray
    objective: float
    residual: BlockResidual


def half_sweep(entries: BlockedEntries, side: str, F_other, lam: float, *,
               want_residual: bool = False) -> HalfSweep:
    """Solve the factor of ``side`` given the other one (see the module docstring).

    ``side="rows"``: ``F_other = V`` (n×r), returns ``U``; ``side="cols"``: ``F_other = U``,
    returns ``V``.  With ``want_residual`` the solve tasks also compute ``r_b`` and ``½‖r_b‖²``
    for the new factor (kept on the workers as a :class:`BlockResidual` on ``side``).
    """
    other = entries.other(side)
    lam = _check_lam(lam)
    F_other = _check_factor(F_other, entries.size(other), "V" if side == "rows" else "U")
    states = _submit_solves(entries, side, F_other, F_other.shape[1], lam, want_residual,
                            _holders(entries))
    return _collect(entries, side, states, F_other.shape[1], want_residual)


def _submit_solves(entries: BlockedEntries, side: str, F_other, r: int, lam: float,
                   want_residual: bool, holders: dict) -> list:
    """Steps 1-3 of a half-sweep on ``side``: the ``B`` futures of the solve tasks."""
    client, B = entries.client, entries.n_blocks
    pieces = _other_pieces(entries, side, F_other, r, holders)
    own = entries.blocks[side]
    return [client.submit(solve_block, own[b], lam, bool(want_residual), *pieces[b],
                          pure=False, **_near(holders, own[b])) for b in range(B)]


def _collect(entries: BlockedEntries, side: str, states: list, r: int, want_residual: bool,
             also: list = ()) -> HalfSweep:
    """Step 4: gather the new factor rows (and ``½‖r_b‖²``) of ``side``."""
    client, B = entries.client, entries.n_blocks
    out = gather_or_cancel(client, [client.submit(factor_and_half, s, pure=False)
                                    for s in states], states, list(also))
    F = np.empty((entries.size(side), r))
    for b, (rows, _) in enumerate(out):
        F[b::B] = rows
    half = float(sum(h for _, h in out)) if want_residual else float("nan")
    res = _residual_operator(entries, side, states) if want_residual else None
    return HalfSweep(F, half, res)


def exact_sweep(entries: BlockedEntries, U, V, lam: float) -> SweepResult:
    """One sweep of ``als_masked(method="exact")``: ``U`` given ``V``, then ``V`` given ``U``.

    Returns the new factors, ``f(U, V) = Σ_c ½‖r_c‖² + (λ/2)(‖U‖² + ‖V‖²)`` (from the column
    solves' residuals: no extra pass) and the residual on the column blocks.
    """
    m, n = entries.shape
    lam = _check_lam(lam)
    V = _check_factor(V, n, "V")
    r = V.shape[1]
    _check_factor(U, m, "U", r)   # the sweep overwrites U; only its shape is checked
    holders = _holders(entries)
    u_states = _submit_solves(entries, "rows", V, r, lam, False, holders)
    # the column solves take the new rows of U from the row solves' results on the workers:
    # no round trip through the client between the halves
    v_states = _submit_solves(entries, "cols", u_states, r, lam, True, holders)
    U = _collect(entries, "rows", u_states, r, False, v_states).factor
    h = _collect(entries, "cols", v_states, r, True, u_states)
    V = h.factor
    f = h.half_sq + 0.5 * lam * float(np.vdot(U, U) + np.vdot(V, V))
    return SweepResult(U, V, f, h.residual)


def als_exact(entries: BlockedEntries, U, V, lam: float, *, max_sweeps: int = 200,
              tol: float = 1e-9, deadline: float = np.inf
              ) -> tuple[LocalResult, BlockResidual | None]:
    """Exact ALS sweeps until the relative decrease ``(f_old − f)/f`` is ``≤ tol`` (the loop and
    stopping rule of ``als_masked(method="exact")``); returns its ``LocalResult`` and the last
    residual (column blocks; ``None`` when ``max_sweeps`` is 0)."""
    f_old, rel, f, sweeps, res = np.inf, np.inf, np.inf, 0, None
    for sweep in range(1, max_sweeps + 1):
        sweeps = sweep
        out = exact_sweep(entries, U, V, lam)
        U, V, f, res = out.U, out.V, out.objective, out.residual
        rel = relative_to(f_old - f, f)
        f_old = f
        if abs(rel) <= tol or time.perf_counter() > deadline:
            break
    return LocalResult([np.asarray(U, float), np.asarray(V, float)], sweeps, float(rel),
                       float(f)), res


def residual(entries: BlockedEntries, U, V, layout: str = "rows") -> BlockResidual:
    """``R = P_Ω(Y − UVᵀ)`` on the blocks of ``layout`` (``"rows"``: row blocks, where
    ``Rᵀ(R x)`` is one reduction; ``"cols"``: column blocks, where ``R(Rᵀ y)`` is)."""
    m, n = entries.shape
    V = _check_factor(V, n, "V")
    U = _check_factor(U, m, "U", V.shape[1])
    entries.other(layout)  # validates layout
    own, F_other = (U, V) if layout == "rows" else (V, U)
    client, B = entries.client, entries.n_blocks
    holders = _holders(entries)
    pieces = _other_pieces(entries, layout, F_other, F_other.shape[1], holders)
    blocks = entries.blocks[layout]
    states = [client.submit(residual_block, blocks[b], np.ascontiguousarray(own[b::B]),
                            *pieces[b], pure=False, **_near(holders, blocks[b]))
              for b in range(B)]
    return _residual_operator(entries, layout, states)


def _residual_operator(entries: BlockedEntries, side: str, states: list) -> BlockResidual:
    """The solve (or residual) tasks' residuals as a :class:`BlockResidual` (imported here:
    :mod:`homfact.distributed.maps` builds on this module)."""
    from .maps import BlockResidual

    return BlockResidual(entries, side, states)

"""The one table of named models, read by :func:`homfact.certify`, :mod:`homfact.path` and the CLI.

Each :class:`ModelSpec` maps a canonical name to its estimator, its problem builder, its
``lam_max`` rule (one ``float`` per model, exact or a rigorous upper bound) and what
``homfact fit | certify | path`` need to drive it.  One spelling per model: the canonical
name is ``snake_case`` like the Python API (``"low_rank"``); earlier spellings stay accepted as
aliases (``"lowrank"``, ``"cp_tensor"``), silently, so every existing call and command line
keeps working.  :func:`get_model` resolves a name or an alias.

Import direction: this module imports nothing from :mod:`homfact` at import time.  Estimators
are named by their attribute of the top-level :mod:`homfact` package and builders/``lam_max``
rules by a dotted ``"module:function"`` path; both are resolved on first use
(:meth:`ModelSpec.estimator_class`, :meth:`ModelSpec.build`, :meth:`ModelSpec.lam_max`).  So
the core layers (``meta``, ``problems``, ``certify``, ``path``) may import the registry without
importing ``homfact.models``, and the registry sits above the models only through these lazy
look-ups.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["MODELS", "ModelSpec", "get_model", "iter_models", "model_names"]


def _resolve(target: str) -> Callable:
    """The function named ``"package.module:function"`` (imported on first use)."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class ModelSpec:
    """A named model.

    Attributes
    ----------
    name : the canonical spelling.
    aliases : other accepted spellings (kept for compatibility, resolved to ``name``).
    estimator : attribute of :mod:`homfact` holding the estimator class.
    summary : the objective in one line (``homfact fit --help``).
    problem : ``"module:function"`` building the :class:`homfact.meta.Problem` from
        ``(Y, lam)``; ``None`` when the model has no named problem (no ``certify``/``path``).
    lam_max_rule : ``"module:function"`` returning, as one ``float``, the model's ``λ_max``
        from the prepared data (:meth:`prepare_data`) and keyword parameters of the model
        (e.g. ``gamma``): every ``lam >= λ_max`` gives the zero solution.  ``None``: the model
        has no ``lam_max``.
    lam_max_exact : whether that value is exact (the smallest such ``lam``) or only a rigorous
        upper bound (the exact value is NP-hard: sparse dictionary learning, CP tensors).
        :func:`homfact.regularization_path` starts only from an exact ``λ_max`` of a model with a
        named problem (``need="path"``).
    prepare : ``"module:function"`` applied once to the data before building problems (e.g.
        the observed entries of a completion input); ``None``: the data as given.
    cv_estimator : attribute of :mod:`homfact` holding the cross-validated estimator
        (``homfact fit --lam cv``), or ``None``.
    cli : which branch of ``homfact fit`` drives it: ``"core"`` (fixed options, and also
        ``homfact certify``/``path``), ``"rpca"`` (its own options) or ``"generic"`` (the
        estimator's defaults, ``--set NAME=VALUE``); ``None``: not on the command line.
    cli_input : how the CLI reads the input: ``"matrix"`` (the model's own preparation),
        ``"dense"`` (a dense matrix, NaN = missing) or ``"tensor"`` (a K-way ``.npy``).
    lam_word : the word ``--lam`` accepts for the core models (``"auto"``: the estimator's
        noise rule, ``"cv"``: :attr:`cv_estimator`), or ``None``.
    """

    name: str
    aliases: tuple[str, ...]
    estimator: str
    summary: str
    problem: str | None = None
    lam_max_rule: str | None = None
    lam_max_exact: bool = True
    prepare: str | None = None
    cv_estimator: str | None = None
    cli: str | None = None
    cli_input: str = "matrix"
    lam_word: str | None = None

    @property
    def spellings(self) -> tuple[str, ...]:
        """The canonical name followed by its aliases."""
        return (self.name, *self.aliases)

    @property
    def tensor(self) -> bool:
        """Whether the CLI input is a K-way ``.npy`` array (K >= 3) instead of a matrix."""
        return self.cli_input == "tensor"

    def estimator_class(self) -> type:
        """The estimator class (imports :mod:`homfact` on first use)."""
        return getattr(importlib.import_module("homfact"), self.estimator)

    def prepare_data(self, Y):
        """``Y`` as the problem builder takes it (see :attr:`prepare`)."""
        return Y if self.prepare is None else _resolve(self.prepare)(Y)

    def build(self, Y, lam: float):
        """The model's :class:`homfact.meta.Problem` for data ``Y`` at weight ``lam``."""
        if self.problem is None:
            raise ValueError(f"model {self.name!r} has no named problem")
        return _resolve(self.problem)(self.prepare_data(Y), lam)

    def lam_max(self, Y, **params) -> float:
        """``λ_max`` of data ``Y``: every ``lam >=`` it gives the zero solution (exact or an
        upper bound, see :attr:`lam_max_rule` and :attr:`lam_max_exact`)."""
        if self.lam_max_rule is None:
            raise ValueError(f"model {self.name!r} has no lam_max")
        return float(_resolve(self.lam_max_rule)(self.prepare_data(Y), **params))

#: the models, by canonical name (in the order the CLI lists them)
MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec("low_rank", ("lowrank",), "LowRankApproximation",
              "1/2||Y - UV'||^2 + lam sum ||u_i|| ||v_i||",
              problem="homfact.problems:low_rank_problem",
              lam_max_rule="homfact.lam_rules:low_rank_lam_max",
              cli="core", lam_word="auto"),
    ModelSpec("completion", (), "MatrixCompletion",
              "the same on the observed entries only",
              problem="homfact.problems:completion_problem",
              lam_max_rule="homfact.lam_rules:completion_lam_max",
              prepare="homfact.registry:observed", cv_estimator="MatrixCompletionCV",
              cli="core", lam_word="cv"),
    ModelSpec("rpca", (), "RobustPCA",
              "robust PCA: ||E||_1 + lam sum ||u_i|| ||v_i|| + gamma/2 ||Y - UV' - E||^2",
              lam_max_rule="homfact.lam_rules:rpca_lam_max",
              cv_estimator="RobustPCACV", cli="rpca", cli_input="dense"),
    ModelSpec("nmf", (), "NonnegativeFactorization",
              "NMF: 1/2||X - WH||^2 + lam sum ||w_i|| ||h_i||, W, H >= 0",
              lam_max_rule="homfact.lam_rules:nonnegative_lam_max",
              cli="generic", cli_input="dense"),
    ModelSpec("dictionary", (), "SparseDictionaryLearning",
              "sparse dictionary learning: 1/2||X - CD||^2 + lam sum ||D_i|| "
              "(||C_i|| + gamma ||C_i||_1)",
              lam_max_rule="homfact.lam_rules:dictionary_lam_max", lam_max_exact=False,
              cli="generic", cli_input="dense"),
    ModelSpec("structured", (), "StructuredFactorization",
              "structured factorization: l2 + l1 + TV gauges per side",
              cli="generic", cli_input="dense"),
    # CP tensor (K-way Y, NaN = missing): 1/2||P_Omega(Y - [[X]])||^2 + lam sum_i prod_k ||x_i^k||
    ModelSpec("cp", ("cp_tensor",), "CPTensorFactorization",
              "CP tensor factorization: 1/2||Y - [[X1,...,XK]]||^2 + lam sum prod_k ||x_i^k||",
              problem="homfact.problems:cp_problem",
              lam_max_rule="homfact.lam_rules:cp_lam_max_upper", lam_max_exact=False,
              cli="generic", cli_input="tensor"),
)}

_BY_SPELLING: dict[str, ModelSpec] = {s: spec for spec in MODELS.values() for s in spec.spellings}


def observed(Y):
    """The observed entries of ``Y`` (unchanged when it already is an ``ObservedMatrix``)."""
    from .problems import observed_entries

    return Y if hasattr(Y, "rows") else observed_entries(Y)


def _spelled(specs: list[ModelSpec]) -> str:
    return ", ".join(repr(s.name) + (f" (or {', '.join(map(repr, s.aliases))})" if s.aliases
                                     else "") for s in specs)


def get_model(name, *, need: str | None = None) -> ModelSpec:
    """The :class:`ModelSpec` called ``name`` (canonical or alias).

    ``need``: ``"problem"`` or ``"lam_max"`` restricts to models that have one, ``"path"`` to
    those with a problem and an exact ``lam_max`` (:attr:`ModelSpec.lam_max_exact`).  Raises
    ``ValueError`` naming ``model`` and the accepted names otherwise.
    """
    spec = _BY_SPELLING.get(name) if isinstance(name, str) else None
    allowed = list(iter_models(need))
    if spec not in allowed:
        raise ValueError(f"model must be one of {_spelled(allowed)}, got {name!r}")
    return spec


def iter_models(need: str | None = None) -> Iterator[ModelSpec]:
    """The models (in table order) that have a ``need`` (``"problem"``, ``"lam_max"``,
    ``"path"``: both, with an exact ``lam_max``)."""
    for spec in MODELS.values():
        if need in ("problem", "path") and spec.problem is None:
            continue
        if need in ("lam_max", "path") and spec.lam_max_rule is None:
            continue
        if need == "path" and not spec.lam_max_exact:
            continue
        yield spec


def model_names(*, cli: tuple[str, ...] | None = None, aliases: bool = True) -> tuple[str, ...]:
    """Accepted spellings (canonical first, then aliases) of the models whose ``cli`` branch
    is in ``cli`` (all models when ``None``)."""
    out: list[str] = []
    for spec in MODELS.values():
        if cli is None or spec.cli in cli:
            out += spec.spellings if aliases else [spec.name]
    return tuple(out)

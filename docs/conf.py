"""Sphinx configuration of the homfact documentation (``make docs``)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

project = "homfact"
author = "homfact developers"
copyright = "homfact developers"
release = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]

napoleon_numpy_docstring = True
napoleon_google_docstring = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "show-inheritance": False}
# PyTorch is optional (the ``nn`` extra); it is never imported by the pages below.
autodoc_mock_imports = ["torch"]

# Only "more than one target found" for a bare attribute name such as ``rank_`` in an
# attribute's type (several estimators define it); unresolved references are not affected.
suppress_warnings = ["ref.python"]

exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path: list[str] = []


# -- gallery: one section per examples/*.py, from its module docstring (never executed) --------
import ast  # noqa: E402
import re  # noqa: E402

from docutils.parsers.rst import Directive  # noqa: E402

EXAMPLES = ROOT / "examples"


class ExampleGallery(Directive):
    """``.. example-gallery::`` — title, docstring body and source of every example script."""

    def run(self):
        lines: list[str] = []
        for path in sorted(EXAMPLES.glob("*.py")):
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or path.name
            title, _, body = doc.partition("\n")
            heading = f"``{path.name}``: {title.strip()}"
            lines += [heading, "-" * (len(heading) + 4), "", *body.strip().splitlines(), "",
                      f".. literalinclude:: ../examples/{path.name}", "   :language: python",
                      "", ""]
        self.state_machine.insert_input(lines, str(EXAMPLES))
        return []


# -- docstring text: sklearn-style names such as ``rank_`` are RST references when bare ------
# literals (which may span lines) and directive lines are kept; a bare ``name_`` is escaped
_KEEP_OR_NAME = re.compile(
    r"(``.*?``|`[^`]*`|^[ \t]*\.\. [^\n]*)|\b([A-Za-z]\w*?)_(?=[\s,.;:)\]]|$)",
    re.DOTALL | re.MULTILINE,
)


def _escape(match: re.Match) -> str:
    return match.group(1) if match.group(1) is not None else match.group(2) + "\\_"


def escape_trailing_underscores(app, what, name, obj, options, lines):
    """Escape ``name_`` outside literals (after napoleon) so docutils reads it as text."""
    text = _KEEP_OR_NAME.sub(_escape, "\n".join(lines))
    lines[:] = text.split("\n")


def skip_sklearn_request_methods(app, what, name, obj, skip, options):
    """scikit-learn's generated ``set_*_request`` methods are not homfact's API."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.add_directive("example-gallery", ExampleGallery)
    app.connect("autodoc-process-docstring", escape_trailing_underscores, priority=600)
    app.connect("autodoc-skip-member", skip_sklearn_request_methods)
    return {"parallel_read_safe": True}

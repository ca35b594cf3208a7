"""Package boundaries (DESIGN §2): the core (`qserv/`, without `qserv/admin/`) imports no
role, the roles never import each other except through the core, and nothing below the top
floor imports `qserv.admin`. Read from the source (every import statement and every string
that names a module), so a late `import` inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("czar", "worker", "partitioner")
# package -> top-level packages (and qserv.admin) it must not reach
FORBIDDEN = {
    "qserv": {*ROLES, "qserv.admin"},
    "czar": {"worker", "partitioner", "qserv.admin"},
    "worker": {"czar", "partitioner", "qserv.admin"},
    "partitioner": {"czar", "worker", "qserv.admin"},
}


def _package_of(path: Path) -> str | None:
    rel = path.relative_to(ROOT).parts
    if rel[0] == "qserv":
        if len(rel) > 1 and rel[1] in ("admin", "v1"):
            return None          # the top floor may import anything; generated code is checked by gen_proto
        return "qserv"
    return rel[0] if rel[0] in FORBIDDEN else None


def _names(tree: ast.AST):
    """Every module the code names: imports, and string constants that look like dotted
    module paths (importlib.import_module("partitioner.kernels"))."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if "." in text and " " not in text and text.split(".")[0] in ROLES + ("qserv",):
                yield node.lineno, text


def _reaches(name: str, target: str) -> bool:
    return name == target or name.startswith(target + ".")


def _violations() -> list[str]:
    found = []
    for path in sorted(ROOT.glob("*/**/*.py")):
        package = _package_of(path)
        if package is None:
            continue
        tree = ast.parse(path.read_text(), str(path))
        for line, name in _names(tree):
            for target in FORBIDDEN[package]:
                if _reaches(name, target):
                    found.append(f"{path.relative_to(ROOT)}:{line} ({package}) names {name}")
    return found


def test_no_package_reaches_above_or_beside_itself():
    assert _violations() == []


@pytest.mark.parametrize("bad, package", [
    ("from partitioner.run import Options\n", "qserv"),
    ("def f():\n    import czar.engine\n", "qserv"),
    ("MODULE = 'partitioner.kernels'\n", "qserv"),
    ("from qserv.admin import cli\n", "czar"),
    ("import worker.service\n", "czar"),
])
def test_the_check_sees_each_kind_of_crossing(bad, package):
    names = [n for _, n in _names(ast.parse(bad))]
    assert any(_reaches(n, t) for n in names for t in FORBIDDEN[package])


def test_allowed_imports_are_not_flagged():
    names = [n for _, n in _names(ast.parse("from qserv import config\nimport numpy\nx = 'a.b'\n"))]
    assert not any(_reaches(n, t) for n in names for t in FORBIDDEN["qserv"])

"""The focused micro-benchmarks (benchmarks/bench_*.py, one per issue) as cases of the harness:
`python -m benchmarks list` shows them, `python -m benchmarks run --case NAME [-- ARGS]` runs
one in its own process with its own arguments (each keeps its own --help and defaults)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def cases() -> dict[str, str]:
    """name -> first line of the script's docstring, for every benchmarks/bench_*.py."""
    out = {}
    for path in sorted(HERE.glob("bench_*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        out[path.stem.removeprefix("bench_")] = " ".join(doc.split("\n\n")[0].split())
    return out


def run_case(name: str, args: list[str]) -> int:
    known = cases()
    name = name.removeprefix("bench_")
    if name not in known:
        print(f"no case {name!r}; `python -m benchmarks list` shows them: {', '.join(known)}",
              file=sys.stderr)
        return 2
    env = {**os.environ, "PYTHONPATH": f"{HERE.parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.call([sys.executable, "-m", f"benchmarks.bench_{name}", *args],
                           cwd=HERE.parent, env=env)

"""ruff and mypy are part of the suite, so CI fails on a lint or type error like on a test; and
the layering (the core imports nothing from services/) is checked like a test too."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from domain import delivery

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_ruff_is_clean() -> None:
    result = _run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    result = _run(str(BIN / "mypy"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_core_imports_nothing_from_services() -> None:
    """events/, domain/ and projections/ are pure: the arrows point inward. The delivery
    planner is part of the domain (services/app/delivery.py only executes its steps)."""
    assert {"next_step", "RetryPolicy", "Send", "Skip", "Abandon", "Done"} <= set(vars(delivery))
    offenders = []
    for package in ("events", "domain", "projections"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                offenders += [
                    f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] == "services"
                ]
    assert offenders == []

"""The dependency rule, checked on the source: every arrow points inward.

events <- domain, projections <- services.app <- services.adapters / services.entrypoints
<- services.bootstrap (the one composition root) <- the CLI, which alone composes the demo.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INFRASTRUCTURE = ("nats", "faststream", "fastapi", "starlette", "uvicorn", "httpx", "lxml")


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules(package: str) -> dict[str, set[str]]:
    return {
        str(path.relative_to(ROOT)): imports_of(path)
        for path in (ROOT / package.replace(".", "/")).rglob("*.py")
    }


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {name}"
        for module, names in modules(package).items()
        for name in names
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    )


def test_the_core_imports_nothing_from_services_or_infrastructure() -> None:
    for package in ("events", "domain", "projections"):
        assert offenders(package, ("services", *INFRASTRUCTURE)) == [], package


def test_events_import_only_events() -> None:
    assert offenders("events", ("domain", "projections")) == []


def test_use_cases_import_no_adapter_entry_point_or_infrastructure() -> None:
    forbidden = (
        "services.adapters",
        "services.entrypoints",
        "services.bootstrap",
        "services.demo",
        "services.settings",
        *INFRASTRUCTURE,
    )
    assert offenders("services.app", forbidden) == []


def test_dutch_texts_are_a_leaf() -> None:
    forbidden = ("services.app", "services.adapters", "services.entrypoints", "services.bootstrap")
    assert offenders("services.texts_nl", forbidden) == []


def test_adapters_import_no_entry_point_nor_the_composition_root() -> None:
    forbidden = ("services.entrypoints", "services.bootstrap", "services.demo")
    assert offenders("services.adapters", forbidden) == []


def test_entry_points_reach_adapters_only_from_the_cli() -> None:
    found = offenders("services.entrypoints", ("services.adapters", "services.bootstrap"))
    assert [f for f in found if not f.startswith("services/entrypoints/cli.py")] == []


def test_nothing_but_the_cli_imports_the_demo() -> None:
    users = {
        module
        for package in ("services", "events", "domain", "projections")
        for module, names in modules(package).items()
        if any(n == "services.demo" or n.startswith("services.demo.") for n in names)
    }
    assert {u for u in users if not u.startswith("services/demo/")} == {
        "services/entrypoints/cli.py"
    }


def test_the_demo_drives_the_service_only_from_outside() -> None:
    forbidden = ("services.bootstrap", "services.app", "services.adapters", "services.entrypoints")
    assert offenders("services.demo", forbidden) == []

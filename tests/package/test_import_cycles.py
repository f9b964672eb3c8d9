"""No import cycle anywhere in `orchestrator/`, type-only imports included
(`python -m tools.import_cycles` prints them)."""

from __future__ import annotations

from pathlib import Path

from tools.import_cycles import cycles, import_graph

ROOT = Path(__file__).resolve().parents[2] / "orchestrator"


def test_orchestrator_has_no_import_cycle() -> None:
    assert cycles(import_graph(ROOT)) == []


def test_a_type_only_import_back_is_a_cycle(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import A\n"
    )
    (package / "c.py").write_text("import pkg.a\n")
    assert cycles(import_graph(package)) == [["pkg.a", "pkg.sub.b"]]


def test_an_import_inside_a_function_counts(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def f() -> None:\n    from pkg.a import x\n")
    assert cycles(import_graph(package)) == [["pkg.a", "pkg.b"]]

"""Instance attributes per class of a package, counted from the source.

    python -m tools.class_attributes [PACKAGE_DIR]   # default: orchestrator/engine

For each class: `attributes`, the distinct `self.<name>` assigned in its methods (plain,
annotated or augmented assignment, tuple targets included); `reassigned`, those of them also
assigned outside `__init__`; `written_elsewhere`, the distinct attribute names assigned on a
variable `t` (the engine's name for a transfer) in other modules of the package.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

__all__ = ["count"]


def _targets(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        found: list[ast.expr] = []
        for target in node.targets:
            found.extend(target.elts if isinstance(target, ast.Tuple) else [target])
        return found
    if isinstance(node, ast.AnnAssign | ast.AugAssign):
        return [node.target]
    return []


def _assigned(tree: ast.AST, owner: str) -> set[str]:
    return {
        target.attr
        for node in ast.walk(tree)
        for target in _targets(node)
        if isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id == owner
    }


def count(root: Path) -> dict[str, tuple[int, int, int]]:
    """Class name -> (attributes, reassigned outside __init__, written by other modules)."""
    trees = {p: ast.parse(p.read_text(), str(p)) for p in sorted(root.rglob("*.py"))}
    written: dict[Path, set[str]] = {p: _assigned(tree, "t") for p, tree in trees.items()}
    result: dict[str, tuple[int, int, int]] = {}
    for path, tree in trees.items():
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            methods = [
                n for n in cls.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
            every = set().union(*(_assigned(m, "self") for m in methods))
            later = set().union(*(_assigned(m, "self") for m in methods if m.name != "__init__"))
            if not every:
                continue
            elsewhere = set().union(*(w for p, w in written.items() if p != path)) & every
            result[f"{path.stem}.{cls.name}"] = (len(every), len(later), len(elsewhere))
    return result


def main(argv: list[str]) -> int:
    root = Path(argv[0] if argv else "orchestrator/engine")
    print(f"{'class':40} attributes  reassigned  written_elsewhere")
    for name, (every, later, elsewhere) in sorted(count(root).items()):
        print(f"{name:40} {every:10}  {later:10}  {elsewhere:17}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

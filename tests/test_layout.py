"""The package's layering, read from the source: which sub-package may import which, and no private names in tests.

Every import counts, at any depth (inside functions and ``if TYPE_CHECKING:`` blocks too). ``docs/layout.md``
shows the graph as it is; ``python -m tests.test_layout`` rewrites it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "layout.md"
STALE_DOC = "docs/layout.md no longer shows the imports: run python -m tests.test_layout"
BASE = "base"  # the modules at the package's top: errors, exit_codes, names, secret, logs, __init__, __main__
CLI = "_cli"
# Which groups each group may import, besides itself (the preamble of issue 13).
ALLOWED: dict[str, frozenset[str]] = {
    BASE: frozenset(),
    "workbook": frozenset({BASE}),
    "api": frozenset({BASE}),
    "provision": frozenset({BASE, "workbook", "api"}),
    "sandbox": frozenset({BASE, "api"}),
    "report": frozenset({BASE, "workbook", "provision"}),
    "jobs": frozenset({BASE, "workbook", "api", "provision", "sandbox", "report"}),
    CLI: frozenset({BASE, "workbook", "api", "provision", "sandbox", "report", "jobs"}),
}
ENTRY_POINT = "provisioner.__main__"  # the one module outside _cli that may import it: `python -m provisioner`

Edge = tuple[str, str, int]  # module importing, module imported, line


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(node: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Yield the full names an import statement brings in (``from a import b`` may name module a.b)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        if node.level:  # relative: resolve against the importing module's package
            package = module.split(".") if is_package else module.split(".")[:-1]
            base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        yield base
        yield from (f"{base}.{alias.name}" for alias in node.names)


def imports(root: Path = ROOT) -> list[Edge]:
    """Return every import of a provisioner module by a provisioner module under ``root``."""
    edges = []
    for path in sorted((root / "provisioner").rglob("*.py")):
        module = _module_name(path, root)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            for name in _imported(node, module, path.name == "__init__.py"):
                if name.split(".")[0] == "provisioner" and name != module:
                    edges.append((module, name, getattr(node, "lineno", 0)))
    return edges


def group(module: str, root: Path = ROOT) -> str:
    """Return the layer a module belongs to: its sub-package under provisioner, or "base"."""
    parts = module.split(".")
    if len(parts) > 1 and (root / "provisioner" / parts[1]).is_dir():
        return parts[1]
    return BASE


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Return each group and the other groups it imports."""
    result: dict[str, set[str]] = {}
    for importer, imported, _ in imports(root):
        source, target = group(importer, root), group(imported, root)
        result.setdefault(source, set())
        # `from provisioner import x` also names the package itself, whose __init__ is base: not an import of it
        if target != source and imported != "provisioner":
            result[source].add(target)
    return result


def render(edges: dict[str, set[str]]) -> str:
    """Draw a graph as text: one line per group, in layer order, with the groups it imports."""
    order = list(ALLOWED)
    lines = []
    for source in sorted(edges, key=order.index):
        targets = sorted(edges[source], key=order.index)
        lines.append(f"{source:<10} → {', '.join(targets) if targets else '(nothing)'}")
    return "\n".join(lines)


def violations(root: Path = ROOT) -> list[str]:
    """Return every import the layering forbids, as 'file:line: a imports b (a may import ...)'."""
    found = []
    for importer, imported, line in imports(root):
        source, target = group(importer, root), group(imported, root)
        if imported == "provisioner" or target == source:
            continue
        allowed = ALLOWED[source] | ({CLI} if importer == ENTRY_POINT else set())
        if target not in allowed:
            found.append(f"{importer}:{line}: {source} imports {imported} ({source} may import {sorted(allowed)})")
    return found


def private_imports(root: Path = ROOT) -> list[str]:
    """Return the imports of private provisioner names by tests and benchmarks (the CLI package is exempt)."""
    found = []
    for folder in ("tests", "benchmarks"):
        for path in sorted((root / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                for name in _imported(node, _module_name(path, root), path.name == "__init__.py"):
                    parts = name.split(".")
                    if parts[0] != "provisioner" or parts[:2] == ["provisioner", CLI]:
                        continue
                    if any(part.startswith("_") and not part.startswith("__") for part in parts):
                        found.append(f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}: imports {name}")
    return found


def doc() -> str:
    """Return docs/layout.md as it should read now."""
    rules = render({source: set(targets) for source, targets in ALLOWED.items()})
    return "\n".join(
        [
            "# Layout: which package imports which",
            "",
            "`provisioner` is layered by stage. Base modules (`errors`, `exit_codes`, `names`, `secret`, `logs`,",
            "`__init__`, `__main__`) import no sub-package; each sub-package may import only the ones below it.",
            "`tests/test_layout.py` checks every import in `provisioner/` (function-level ones too) against the",
            "rules, and that tests and benchmarks import no private name (`_x`) except from `provisioner._cli`.",
            "",
            "## The rules (what each may import)",
            "",
            "```text",
            rules,
            "```",
            "",
            "`__main__` may also import `_cli`; nothing else imports `_cli`.",
            "",
            "## The imports as they are",
            "",
            "Regenerate with `python -m tests.test_layout`; a test fails when this is out of date.",
            "",
            "```text",
            render(graph()),
            "```",
            "",
            "Before this check existed (commit ea270cf, right after the move into sub-packages) the graph was",
            "the same, drawn the same way from that commit's tree: the move left no forbidden import between",
            "packages. What the check found there was tests importing private names: `tests/test_broken_inputs.py`",
            "(the loader's extent scan: `_above`, `_column_letters`, `_Extent`, `_letters_above`, `_ref_extent`,",
            "`_walk_extent`) and `tests/test_template.py` (`_list_formula`).",
            "",
        ]
    )


def test_no_module_imports_a_package_it_may_not() -> None:
    assert violations() == []


def test_tests_and_benchmarks_import_no_private_names() -> None:
    assert private_imports() == []


def test_the_doc_shows_the_imports_as_they_are() -> None:
    assert DOC.read_text(encoding="utf-8") == doc(), STALE_DOC


def test_the_rules_catch_a_function_level_import(tmp_path: Path) -> None:
    # The check itself, on a made-up package: a workbook module reaching into provision from inside a function.
    for folder in ("workbook", "provision"):
        (tmp_path / "provisioner" / folder).mkdir(parents=True)
        (tmp_path / "provisioner" / folder / "__init__.py").write_text("")
    (tmp_path / "provisioner" / "__init__.py").write_text("")
    (tmp_path / "provisioner" / "provision" / "engine.py").write_text("")
    (tmp_path / "provisioner" / "workbook" / "load.py").write_text(
        "from provisioner import errors\n\ndef f():\n    from ..provision import engine\n"
    )
    assert violations(tmp_path) == [
        "provisioner.workbook.load:4: workbook imports provisioner.provision (workbook may import ['base'])",
        "provisioner.workbook.load:4: workbook imports provisioner.provision.engine (workbook may import ['base'])",
    ]


if __name__ == "__main__":
    DOC.write_text(doc(), encoding="utf-8")

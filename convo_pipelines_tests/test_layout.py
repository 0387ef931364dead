"""The package's layering, read from the source with ast (nothing is imported):

- lib/ (database access, SQL files, migrations, settings) knows no Dagster definition and no command;
- instance/ (the Dagster instance's storage, which dagster.yaml names, and where it is) knows no definition
  and no command: platform code (lib/, instance/) imports nothing of the command line (cli/);
- defs/ (assets, checks, jobs, schedules, sensors) imports nothing of the command line;
- the two domains, defs/links/ and defs/histories/, do not import each other;
- nothing in the package imports the benchmarks (benchmarks/, the package convo_benchmarks): they use the
  product, never the other way round.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "convo_pipelines"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of the file (imports inside functions count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            # `from convo_pipelines.defs import links` imports the module convo_pipelines.defs.links.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def modules_under(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def violations(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(PACKAGE.parent)} imports {module}"
        for path in modules_under(folder)
        for module in sorted(imported_modules(path))
        if any(module == prefix or module.startswith(prefix + ".") for prefix in forbidden)
    ]


def test_the_layers_exist():
    for folder in ("lib", "instance", "defs", "defs/links", "defs/histories", "cli"):
        assert modules_under(folder), f"convo_pipelines/{folder}/ holds no module"


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("lib", ("convo_pipelines.defs", "convo_pipelines.cli", "convo_pipelines.definitions", "dagster")),
        ("instance", ("convo_pipelines.defs", "convo_pipelines.cli", "convo_pipelines.definitions")),
        ("defs", ("convo_pipelines.cli",)),
        ("defs/links", ("convo_pipelines.defs.histories",)),
        ("defs/histories", ("convo_pipelines.defs.links",)),
    ],
)
def test_import_rules(folder, forbidden):
    assert violations(folder, forbidden) == []


def test_the_rules_see_a_violation(tmp_path):
    """The reader itself: relative and absolute imports, at the top and inside a function, are all found."""
    module = PACKAGE / "defs" / "links" / "assets.py"
    found = imported_modules(module)
    assert "convo_pipelines.defs.partitions" in found
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from convo_pipelines.cli import main\nimport convo_pipelines.defs.links.jobs\n")
    found = imported_modules(sample)
    assert {"convo_pipelines.cli.main", "convo_pipelines.defs.links.jobs"} <= found


def test_the_product_never_imports_the_benchmarks():
    assert violations(".", ("convo_benchmarks",)) == []


def test_the_benchmarks_rule_sees_an_import_of_them(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from convo_benchmarks.seed import DEMO_SEEDER\n")
    assert "convo_benchmarks.seed" in imported_modules(sample)


def test_the_code_location_imports_no_command():
    """definitions.py, the code location, loads without the command line or the dev launcher."""
    assert [m for m in imported_modules(PACKAGE / "definitions.py") if m.startswith("convo_pipelines.cli")] == []

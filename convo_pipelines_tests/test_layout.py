"""The package's layering, read from the source with ast (nothing is imported):

- lib/ (database access, SQL files, migrations, settings) knows no Dagster definition and no command;
- instance/ (the Dagster instance's storage, which dagster.yaml names, and where it is) knows no definition
  and no command: platform code (lib/, instance/) imports nothing of the command line (cli/);
- defs/ (assets, checks, jobs, schedules, sensors) imports nothing of the command line;
- the two domains, defs/links/ and defs/histories/, do not import each other;
- neither the package nor its tests import the benchmarks (benchmarks/, the packages its pyproject.toml
  declares): they stand on the product, never the other way round;
- no module of the package is over 300 lines, and an asset module imports at most 8 of the package's modules:
  it says which run to do and reports what it did, the runs read top to bottom in modules of their own.
"""

import ast
from pathlib import Path

import pytest

from convo_pipelines_tests.tooling import BENCHMARKS, benchmark_packages

PACKAGE = Path(__file__).resolve().parents[1] / "convo_pipelines"
TESTS = Path(__file__).resolve().parent
BENCHMARK_PACKAGE = benchmark_packages()[0]


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
    assert "convo_pipelines.defs.links.windows" in found
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from convo_pipelines.cli import main\nimport convo_pipelines.defs.links.jobs\n")
    found = imported_modules(sample)
    assert {"convo_pipelines.cli.main", "convo_pipelines.defs.links.jobs"} <= found


def benchmark_imports(paths: list[Path]) -> list[tuple[Path, str]]:
    """Each module of the benchmarks' packages one of `paths` imports, with the file that imports it."""
    return [
        (path, module)
        for path in paths
        for module in sorted(imported_modules(path))
        if module == BENCHMARK_PACKAGE or module.startswith(BENCHMARK_PACKAGE + ".")
    ]


def test_neither_the_product_nor_its_tests_import_the_benchmarks():
    tests = sorted(TESTS.rglob("*.py"))
    assert TESTS / "conftest.py" in tests
    assert benchmark_imports(modules_under(".") + tests) == []


def test_the_benchmarks_rule_sees_an_import_of_them(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(f"def f():\n    from {BENCHMARK_PACKAGE}.bench import run_bench\n")
    assert benchmark_imports([sample]) == [
        (sample, f"{BENCHMARK_PACKAGE}.bench"),
        (sample, f"{BENCHMARK_PACKAGE}.bench.run_bench"),
    ]


def test_the_code_location_imports_no_command():
    """definitions.py, the code location, loads without the command line or the dev launcher."""
    assert [m for m in imported_modules(PACKAGE / "definitions.py") if m.startswith("convo_pipelines.cli")] == []


def import_graph() -> dict[str, set[str]]:
    """Each module of the package and of the benchmarks, with the modules of both it imports (those under
    TYPE_CHECKING too: a circle of annotations is a circle a reader follows all the same)."""
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    benchmarks = BENCHMARKS / BENCHMARK_PACKAGE
    paths |= {f"{BENCHMARK_PACKAGE}.{path.stem}": path for path in benchmarks.glob("*.py") if path.stem != "__init__"}
    return {
        name: {module for module in imported_modules(path) if module in paths} - {name} for name, path in paths.items()
    }


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of `graph`: each as the modules along it, first and last the same."""
    found: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                found.append([*path[path.index(imported) :], imported])
            elif imported not in state:
                visit(imported, [*path, imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def test_no_module_of_the_package_or_the_benchmarks_sits_in_an_import_circle():
    assert circles(import_graph()) == []


def test_the_circle_rule_sees_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert circles({"a": {"b"}, "b": set()}) == []


MAX_MODULE_LINES = 300
MAX_ASSET_MODULE_IMPORTS = 8


def test_no_module_of_the_package_is_over_300_lines():
    long = {
        str(path.relative_to(PACKAGE.parent)): lines
        for path in PACKAGE.rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def package_modules_imported(path: Path) -> set[str]:
    """The package's modules `path` imports: a name imported from a module counts as that module."""
    modules = {module_name(found) for found in PACKAGE.rglob("*.py")}
    return {
        name if name in modules else name.rsplit(".", 1)[0]
        for name in imported_modules(path)
        if name in modules or name.rsplit(".", 1)[0] in modules
    }


@pytest.mark.parametrize("asset_module", ["defs/links/assets.py", "defs/links/project_assets.py"])
def test_an_asset_module_imports_few_modules_of_the_package(asset_module):
    assert len(package_modules_imported(PACKAGE / asset_module)) <= MAX_ASSET_MODULE_IMPORTS


def test_the_import_count_sees_names_imported_from_a_module(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from convo_pipelines.defs.links.windows import RunWindow\nimport convo_pipelines.lib.settings\n")
    assert package_modules_imported(sample) == {"convo_pipelines.defs.links.windows", "convo_pipelines.lib.settings"}

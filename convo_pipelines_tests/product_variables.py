"""The environment variables the product reads, found in its source wherever it reads them: the Python of
convo_pipelines (`os.environ[...]`, `os.environ.get`, `os.getenv`, `NAME in os.environ`, a mapping named `environ`
or `env` read the same ways, `dg.EnvVar`, and lib/settings.py's readers `_reader(env, "NAME", default)`), and the
Dagster files of the repository's root (`env: NAME`, `${NAME}`). A name held in a module's constant (a string, or
a tuple of them iterated over) counts as read where the constant is."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ROOT / "convo_pipelines"
DAGSTER_FILES = (ROOT / "dagster.yaml", ROOT / "workspace.yaml")
VARIABLE_NAME = re.compile(r"^[A-Z][A-Z0-9_]*[A-Z0-9]$")
YAML_READS = re.compile(r"\benv:\s*['\"]?([A-Z][A-Z0-9_]*)|\$\{([A-Z][A-Z0-9_]*)")
ENVIRONMENT_NAMES = {"environ", "env"}
ENVIRONMENT_FUNCTIONS = {"getenv", "EnvVar"}
NO_DEFAULT = None


def is_environment(node: ast.expr) -> bool:
    """Whether `node` names the process's environment: `os.environ`, or a mapping called `environ` or `env`."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ"
    return isinstance(node, ast.Name) and node.id in ENVIRONMENT_NAMES


def string_constants(tree: ast.Module) -> dict[str, tuple[str, ...]]:
    """The names a module binds to a string, or a tuple of strings, at its top level or through a loop or
    comprehension over such a tuple."""
    constants: dict[str, tuple[str, ...]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            values = literal_strings(node.value, {})
            if values:
                constants[node.targets[0].id] = values
    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.comprehension)) and isinstance(node.target, ast.Name):
            values = literal_strings(node.iter, constants)
            if values:
                constants.setdefault(node.target.id, values)
    return constants


def literal_strings(node: ast.expr | None, constants: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The strings `node` stands for: a string literal, a tuple or list of them, or a name bound to them."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return (node.value,)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        values = [literal_strings(element, constants) for element in node.elts]
        return tuple(value for found in values for value in found) if all(values) else ()
    if isinstance(node, ast.Name):
        return constants.get(node.id, ())
    return ()


def literal_default(node: ast.expr | None) -> object:
    """The literal a reader falls back to, or NO_DEFAULT (none given, an empty string, or not a literal)."""
    if node is None:
        return NO_DEFAULT
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return NO_DEFAULT
    return NO_DEFAULT if value == "" else value


def reads_of_call(node: ast.Call) -> tuple[ast.expr | None, ast.expr | None]:
    """(the name argument, the default argument) of a call that reads a variable, else (None, None)."""
    function, args = node.func, node.args
    if isinstance(function, ast.Attribute) and function.attr == "get" and is_environment(function.value) and args:
        return args[0], args[1] if len(args) > 1 else None
    called = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
    if called in ENVIRONMENT_FUNCTIONS and args:
        return args[0], args[1] if len(args) > 1 else None
    if len(args) >= 2 and is_environment(args[0]):  # lib/settings.py's readers: _reader(env, "NAME", default)
        return args[1], args[2] if len(args) > 2 else None
    return None, None


def reads_of_node(node: ast.AST) -> tuple[ast.expr | None, ast.expr | None]:
    """(the name, the default) a node reads from the environment, else (None, None)."""
    if isinstance(node, ast.Call):
        return reads_of_call(node)
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and is_environment(node.value):
        return node.slice, None
    if isinstance(node, ast.Compare) and isinstance(node.ops[0], (ast.In, ast.NotIn)):
        return (node.left, None) if is_environment(node.comparators[0]) else (None, None)
    return None, None


def python_reads(source: str) -> Iterator[tuple[str, object]]:
    """(variable, default) for each read of the environment in one module's source."""
    tree = ast.parse(source)
    constants = string_constants(tree)
    for node in ast.walk(tree):
        name, default = reads_of_node(node)
        for variable in literal_strings(name, constants):
            if VARIABLE_NAME.match(variable):
                yield variable, literal_default(default)


def yaml_reads(text: str) -> Iterator[str]:
    """The variables a Dagster YAML file takes from the environment (`env: NAME` or `${NAME}`)."""
    for match in YAML_READS.finditer(text):
        yield match.group(1) or match.group(2)


@cache
def variables_the_product_reads() -> dict[str, object]:
    """Every variable the product reads, with the literal default it gives it where one reader gives one."""
    found: dict[str, object] = {}
    for path in sorted(PRODUCT.rglob("*.py")):
        for variable, default in python_reads(path.read_text(encoding="utf-8")):
            if found.get(variable) is NO_DEFAULT:
                found[variable] = default
    for path in DAGSTER_FILES:
        for variable in yaml_reads(path.read_text(encoding="utf-8")):
            found.setdefault(variable, NO_DEFAULT)
    return found


# Read by the product but also by the suite itself to reach its server (conftest.py): a test run must keep them.
SUITE_CONNECTION_VARIABLES = frozenset({"TEST_DATABASE_URL", "PGUSER"})
# Every other variable the product reads: the suite clears them so that a developer's shell cannot reach the
# definitions it loads, and a subprocess a test starts gets only those the test sets.
PROJECT_VARIABLES = frozenset(variables_the_product_reads()) - SUITE_CONNECTION_VARIABLES

"""The docs' tables of variables, defaults, checks and commands say what the code has: each is read here and
compared with the code it documents, so neither can change without the other."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from convo_pipelines.cli.main import build_parser
from convo_pipelines.definitions import defs
from convo_pipelines_tests.docs_pages import ROOT

DOCS = ROOT / "docs"
SETTINGS = ROOT / "convo_pipelines" / "lib" / "settings.py"
FRONT_LINK_TABLES = ("people_front_conversations", "clients_front_conversations")


def table(page: Path, header: str) -> list[list[str]]:
    """The rows of the table of `page` whose header row starts with `header`, each as its cells."""
    lines = page.read_text(encoding="utf-8").splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def names(cell: str) -> list[str]:
    """The `code` spans of a cell."""
    return re.findall(r"`([^`]+)`", cell)


def settings_defaults() -> dict[str, object]:
    """Each variable lib/settings.py reads with the default it gives it: the literals of its `_reader(env, NAME,
    default)` calls (None where the reader takes no default)."""
    found = {}
    for node in ast.walk(ast.parse(SETTINGS.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        first = node.args[0]
        if isinstance(first, ast.Name) and first.id == "env" and len(node.args) >= 2:
            name, default = node.args[1], node.args[2] if len(node.args) > 2 else None
            if isinstance(name, ast.Constant):
                found[name.value] = None if default is None else ast.literal_eval(default)
        elif getattr(node.func, "attr", "") == "get" and isinstance(first, ast.Constant) and str(first.value).isupper():
            found.setdefault(first.value, None)
    return found


def documented_variables(page: Path) -> dict[str, str]:
    """variable -> its default cell, from the page's table of variables (a row may name two: `A` / `B`)."""
    documented = {}
    for row in table(page, "| variable | default |"):
        variables = names(row[0])
        defaults = row[1].split(" / ") if len(variables) > 1 else [row[1]]
        for variable, default in zip(variables, defaults, strict=False):
            documented[variable] = default
    return documented


def shown(default: object) -> str:
    return str(default).lower() if isinstance(default, bool) else str(default)


def test_configuration_documents_every_variable_settings_reads_with_its_default() -> None:
    read = settings_defaults()
    assert {"DATABASE_URL", "SOURCE_SCHEMA", "LATE_CHANGES_SENSOR_SECONDS"} <= set(read)
    documented = documented_variables(DOCS / "configuration.md")
    missing = set(read) - set(documented)
    assert not missing, f"configuration.md lacks {sorted(missing)}"
    wrong = {
        variable: (documented[variable], default)
        for variable, default in read.items()
        if default is not None and f"`{shown(default)}`" not in documented[variable]
    }
    assert not wrong, f"configuration.md: documented default against the code's: {wrong}"


def test_each_variable_the_configuration_documents_is_read_by_the_code() -> None:
    configuration = documented_variables(DOCS / "configuration.md")
    code = "\n".join(
        path.read_text(encoding="utf-8")
        for folder in ("convo_pipelines", "convo_pipelines_tests")
        for path in (ROOT / folder).rglob("*.py")
    )
    unread = [variable for variable in configuration if f'"{variable}"' not in code]
    assert not unread, f"documented but read nowhere: {unread}"


def test_the_contracts_table_of_checks_is_every_asset_check_the_definitions_have() -> None:
    documented = set()
    asset = ""
    for row in table(DOCS / "contract.md", "| asset | check | severity | fails when |"):
        asset = row[0] or asset
        assets = FRONT_LINK_TABLES if asset == "both Front link tables" else names(asset)
        documented |= {(name, check) for name in assets for check in names(row[1])}
    defined = {
        (key.asset_key.to_user_string(), key.name) for key in defs.get_repository_def().asset_graph.asset_check_keys
    }
    assert documented == defined, {"documented only": documented - defined, "defined only": defined - documented}


def test_the_command_lines_table_names_every_subcommand_of_the_cli() -> None:
    parser = build_parser()
    [subcommands] = [action for action in parser._actions if hasattr(action, "choices") and action.choices]
    documented = {
        re.match(r"convo-pipelines ([\w-]+)", names(row[0])[0]).group(1)
        for row in table(DOCS / "commands.md", "| command |")
    }
    assert documented == set(subcommands.choices)
    # Each flag a row shows is one its subcommand takes.
    for row in table(DOCS / "commands.md", "| command |"):
        words = names(row[0])[0].split()
        command = subcommands.choices[words[1]]
        taken = {option for action in command._actions for option in action.option_strings}
        shown_flags = {word.strip("[]") for word in words if word.strip("[]").startswith("--")}
        assert shown_flags <= taken, (words[1], shown_flags - taken)

"""The docs' tables of variables, defaults, checks and commands say what the code has: each is read here and
compared with the code it documents, so neither can change without the other."""

from __future__ import annotations

import re
from pathlib import Path

from convo_pipelines.cli.main import build_parser
from convo_pipelines.definitions import defs
from convo_pipelines_tests.docs_pages import ROOT
from convo_pipelines_tests.product_variables import python_reads, variables_the_product_reads, yaml_reads

DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
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


def test_the_table_of_variables_documents_every_variable_the_product_reads_with_its_default() -> None:
    read = variables_the_product_reads()
    documented = documented_variables(CONFIGURATION)
    missing = set(read) - set(documented)
    assert not missing, f"configuration.md lacks {sorted(missing)}"
    wrong = {
        variable: (documented[variable], default)
        for variable, default in read.items()
        if default is not None and f"`{shown(default)}`" not in documented[variable]
    }
    assert not wrong, f"configuration.md: documented default against the code's: {wrong}"


def test_each_variable_the_table_documents_is_read_by_the_product() -> None:
    unread = set(documented_variables(CONFIGURATION)) - set(variables_the_product_reads())
    assert not unread, f"documented but read nowhere in the product: {sorted(unread)}"


def test_the_finder_sees_each_way_the_product_reads_a_variable() -> None:
    """A read through each form the product uses, so that a form the finder misses cannot hide a variable."""
    source = """
import os
NAMED = "NAMED_VARIABLE"
SEVERAL = ("FIRST_OF_SEVERAL", "SECOND_OF_SEVERAL")
os.environ.get(NAMED)
os.environ["SUBSCRIPTED"]
os.getenv("THROUGH_GETENV")
"IN_ENVIRON" in os.environ
dg.EnvVar("DAGSTER_ENV_VAR")
_seconds(env, "SETTINGS_READER", 5, least=5)
environ.get("MAPPING_GET", "").strip()
[os.environ[name] for name in SEVERAL]
os.environ["WRITTEN_ONLY"] = "1"
"""
    assert dict(python_reads(source)) == {
        "NAMED_VARIABLE": None,
        "SUBSCRIPTED": None,
        "THROUGH_GETENV": None,
        "IN_ENVIRON": None,
        "DAGSTER_ENV_VAR": None,
        "SETTINGS_READER": 5,
        "MAPPING_GET": None,
        "FIRST_OF_SEVERAL": None,
        "SECOND_OF_SEVERAL": None,
    }
    assert set(yaml_reads("postgres_url:\n  env: STORAGE_FROM_YAML\nurl: ${INTERPOLATED}\n")) == {
        "STORAGE_FROM_YAML",
        "INTERPOLATED",
    }
    read = variables_the_product_reads()
    assert {"DAGSTER_EVENT_BATCH_SIZE", "DAGSTER_WEBSERVER_HOST", "DAGSTER_WEBSERVER_PORT", "PGUSER"} <= set(read)
    assert read["LATE_CHANGES_SENSOR_SECONDS"] == 5


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
    """The product's own subcommands: those other distributions add (the bench's) have a table of their own."""
    parser = build_parser(commands_group="convo_pipelines.tests.no_installed_commands")
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

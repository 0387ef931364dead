"""Loading the code location, as every `dg` and `dagster` command does, and `make dev`'s start of `dagster dev`
print no warning the project can prevent: Dagster's beta notice for `backfill_policy` would otherwise come once
per partitioned asset, and its notice that `dg dev` supersedes `dagster dev` on every start."""

import subprocess
import sys
from pathlib import Path

from convo_pipelines.cli.dev import dagster_dev_command
from convo_pipelines_tests.helpers import PROJECT_VARIABLES, environment_without

# `-W always` shows every warning each time it is raised, so a filter that missed one asset cannot hide.
LOAD_DEFINITIONS = [sys.executable, "-W", "always", "-c", "import convo_pipelines.definitions"]


def test_loading_the_definitions_prints_no_beta_warning(tmp_path: Path) -> None:
    loaded = subprocess.run(
        LOAD_DEFINITIONS,
        env=environment_without(PROJECT_VARIABLES | {"DAGSTER_HOME"}, CONVO_HOME=str(tmp_path / "convo_home")),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert "BetaWarning" not in loaded.stderr, loaded.stderr


def test_a_beta_warning_outside_the_table_assets_still_shows(tmp_path: Path) -> None:
    # The filter is narrow: the same notice for an asset built outside table_asset() is still reported.
    script = (
        "import convo_pipelines.definitions, dagster as dg\n"
        "@dg.asset(backfill_policy=dg.BackfillPolicy.single_run())\n"
        "def elsewhere(): ...\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-W", "always", "-c", script],
        env=environment_without(PROJECT_VARIABLES | {"DAGSTER_HOME"}, CONVO_HOME=str(tmp_path / "convo_home")),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stderr.count("BetaWarning") == 1, loaded.stderr


# Dagster's own notice, as its `dagster dev` gives it on every start.
WARN_LIKE_DAGSTER_DEV = (
    "from dagster_shared.utils.warnings import supersession_warning\n"
    "supersession_warning('Function `dev_command`', additional_warn_text=\"Use 'dg dev' instead.\")\n"
)


def test_the_dagster_dev_that_make_dev_starts_does_not_print_that_dg_dev_supersedes_it() -> None:
    interpreter = dagster_dev_command("127.0.0.1", 3000)[: dagster_dev_command("127.0.0.1", 3000).index("-m")]
    started = subprocess.run([*interpreter, "-c", WARN_LIKE_DAGSTER_DEV], capture_output=True, text=True, timeout=120)
    typed = subprocess.run([sys.executable, "-c", WARN_LIKE_DAGSTER_DEV], capture_output=True, text=True, timeout=120)
    assert "SupersessionWarning" in typed.stderr, typed.stderr
    assert started.returncode == 0 and "SupersessionWarning" not in started.stderr, started.stderr

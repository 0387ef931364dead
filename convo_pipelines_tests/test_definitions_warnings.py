"""Loading the code location, as every `dg` and `dagster` command does, prints no warning the project can
prevent: Dagster's beta notice for `backfill_policy` would otherwise come once per partitioned asset."""

import subprocess
import sys
from pathlib import Path

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

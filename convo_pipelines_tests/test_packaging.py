"""What packaging and `dg` see: `dg` lists every definition from the repository root with nothing set, and
a wheel ships every SQL file (the demo's too) without a packaging warning and none of the benchmarks."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from convo_pipelines.definitions import defs
from convo_pipelines_tests.helpers import PROJECT_VARIABLES, environment_without
from convo_pipelines_tests.tooling import benchmark_packages

ROOT = Path(__file__).resolve().parent.parent
# The venv's bin: its dg, as `make install` leaves it.
BIN = Path(sys.executable).parent
NAMED_ASSETS = {
    "people_front_conversations",
    "clients_front_conversations",
    "project_conversations",
    "histories_sessions",
    "conversation_summaries",
    "daily_conversation_stats",
}


def run_dg(convo_home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`dg ARGS` in the repository root, as a fresh shell with the venv's bin on PATH runs it (the embedded demo
    it then uses in `convo_home`, so a developer's own is neither reused nor disturbed)."""
    env = environment_without(
        PROJECT_VARIABLES | {"DAGSTER_HOME", "DAGSTER_STORAGE_URL", "TEST_DATABASE_URL", "VIRTUAL_ENV"},
        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
        CONVO_HOME=str(convo_home),
    )
    result = subprocess.run(["dg", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"dg {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def test_dg_checks_and_lists_every_definition(tmp_path: Path) -> None:
    checked = run_dg(tmp_path, "check", "defs")
    assert "All definitions loaded successfully." in checked.stdout
    assert "traceback" not in (checked.stdout + checked.stderr).lower()
    assert "warning" not in (checked.stdout + checked.stderr).lower()

    listed = run_dg(tmp_path, "list", "defs", "--json")
    assert "traceback" not in listed.stderr.lower()
    assert "warning" not in listed.stderr.lower()
    found = json.loads(listed.stdout)

    # What the code location itself holds: a definition dg misses, or one it invents, fails here.
    repository = defs.get_repository_def()
    graph = repository.asset_graph
    assert {asset["asset_key"] for asset in found["assets"]} == {
        key.to_user_string() for key in graph.get_all_asset_keys()
    }
    assert {asset["asset_key"] for asset in found["assets"]} >= NAMED_ASSETS
    assert {check["key"] for check in found["asset_checks"]} == {key.to_user_string() for key in graph.asset_check_keys}
    # Dagster's implicit asset jobs (named __...) are not the project's.
    jobs = {job.name for job in repository.get_all_jobs() if not job.name.startswith("__")}
    assert {job["name"] for job in found["jobs"]} == jobs
    assert {schedule["name"] for schedule in found["schedules"]} == {s.name for s in repository.schedule_defs}
    assert {sensor["name"] for sensor in found["sensors"]} == {s.name for s in repository.sensor_defs}
    assert {resource["name"] for resource in found["resources"]} == set(defs.resources or {})


def copy_of_the_source(tmp_path: Path) -> Path:
    """What a build reads, copied as it is (convo_pipelines/sql stays a link to sql/), so the build's build/ and
    egg-info folders stay out of the checkout. The benchmarks come along: the product's wheel must leave them out."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in"):
        shutil.copy2(ROOT / name, source / name)
    for folder in ("convo_pipelines", "sql", "benchmarks"):
        shutil.copytree(ROOT / folder, source / folder, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    assert (source / "convo_pipelines" / "sql").is_symlink()
    return source


def test_an_editable_install_is_a_plain_path_entry_built_without_warnings(tmp_path: Path) -> None:
    # What `pip install -e .` asks of setuptools (PEP 660), with every warning shown: a folder mapped to a
    # package made it install an import hook and warn "Editable installation" on every `make install`.
    source = copy_of_the_source(tmp_path)
    out = tmp_path / "editable"
    out.mkdir()
    probe = f"import setuptools.build_meta as backend; print(backend.build_editable({str(out)!r}))"
    build = subprocess.run(
        [sys.executable, "-W", "always", "-c", probe],
        cwd=source,
        env=environment_without({"PYTHONDONTWRITEBYTECODE"}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stderr
    assert "warning" not in build.stderr.lower(), build.stderr
    with zipfile.ZipFile(out / build.stdout.split()[-1]) as archive:
        path_files = [name for name in archive.namelist() if name.endswith(".pth")]
        assert len(path_files) == 1, archive.namelist()
        assert archive.read(path_files[0]).decode().split() == [str(source.resolve())]


def build_wheel(source: Path, wheels: Path) -> None:
    """The wheel of the project in `source`, built into `wheels`, as pip builds it, without any warning."""
    # --isolated: this machine's pip configuration adds warnings of its own; -v shows setuptools' output,
    # where "Package would be ignored" appeared. Without PYTHONDONTWRITEBYTECODE setuptools does not
    # warn that it skips byte-compiling. --no-build-isolation: the dev extra's setuptools, no download.
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--isolated",
            "-v",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(wheels),
            str(source),
        ],
        env=environment_without({"PYTHONDONTWRITEBYTECODE"}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = build.stdout + build.stderr
    assert build.returncode == 0, output
    assert "would be ignored" not in output
    assert [line for line in output.splitlines() if "warning" in line.lower()] == []


def test_wheel_ships_every_sql_file_without_warnings_and_none_of_the_benchmarks(tmp_path: Path) -> None:
    source = copy_of_the_source(tmp_path)
    env = environment_without({"PYTHONDONTWRITEBYTECODE"})
    wheels = tmp_path / "wheels"
    build_wheel(source, wheels)

    (wheel,) = wheels.glob("convo_pipelines-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
        entry_points = archive.read(next(n for n in shipped if n.endswith(".dist-info/entry_points.txt"))).decode()
    # The product holds what production runs and its demo; the bench and its SQL stay out.
    bench_package = benchmark_packages()[0]
    assert [name for name in shipped if bench_package in name or name.startswith("benchmarks/")] == []
    benchmark_sql = {path.name for path in (ROOT / "benchmarks").rglob("*.sql")}
    assert benchmark_sql, "benchmarks/ holds no SQL file"
    assert [name for name in shipped if name.rpartition("/")[2] in benchmark_sql] == []
    assert "convo_pipelines.commands" not in entry_points
    assert [name for name in shipped if "tools" in name.split("/")[:-1]] == []
    sql_files = {
        f"convo_pipelines/sql/{path.relative_to(ROOT / 'sql').as_posix()}"
        for path in (ROOT / "sql").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert any(name.endswith(".sql") for name in sql_files)
    assert sql_files - shipped == set()

    # Installed from the wheel alone (the checkout off sys.path), read_sql finds a nested file.
    installed = tmp_path / "installed"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(installed)
    nested = sorted(name for name in sql_files if name.count("/") >= 4)[0].removeprefix("convo_pipelines/sql/")
    probe = (
        "import convo_pipelines\n"
        "from convo_pipelines.lib.postgres.sqlfiles import read_sql\n"
        f"print(convo_pipelines.__file__); print(len(read_sql({nested!r})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(installed)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    module_file, length = result.stdout.split()
    assert Path(module_file).is_relative_to(installed)
    assert int(length) == len((ROOT / "sql" / nested).read_text(encoding="utf-8"))

"""The benchmarks' own wheel ships their SQL, none of the product, and the entry points the product's command line
finds their commands by."""

import zipfile
from pathlib import Path

from convo_pipelines_tests.test_packaging import ROOT, build_wheel, copy_of_the_source


def test_the_benchmarks_wheel_ships_their_sql_and_the_commands_the_product_finds(tmp_path: Path) -> None:
    source = copy_of_the_source(tmp_path)
    wheels = tmp_path / "wheels"
    build_wheel(source / "benchmarks", wheels)

    (wheel,) = wheels.glob("convo_pipelines_benchmarks-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
        entry_points = archive.read(next(n for n in shipped if n.endswith(".dist-info/entry_points.txt"))).decode()
    package = ROOT / "benchmarks"
    sql_files = {path.relative_to(package).as_posix() for path in (package / "convo_benchmarks").rglob("*.sql")}
    assert sql_files and sql_files - shipped == set()
    assert [name for name in shipped if name.startswith("convo_pipelines/")] == []
    assert "[convo_pipelines.commands]" in entry_points

"""The benchmarks' distribution, the repository's benchmarks/ folder, as the product's tests name it: through what its
pyproject.toml declares, so that neither the product nor its tests name or import its packages."""

from __future__ import annotations

import tomllib
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def benchmark_packages() -> tuple[str, ...]:
    """The packages benchmarks/pyproject.toml declares, its top-level package first."""
    with (BENCHMARKS / "pyproject.toml").open("rb") as declared:
        return tuple(tomllib.load(declared)["tool"]["setuptools"]["packages"])

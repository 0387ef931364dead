# The package is declared in pyproject.toml; the repository layout keeps a setup.py, and this shim is all it needs.
from setuptools import setup

setup()

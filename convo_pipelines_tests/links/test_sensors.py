"""The late-change sensor as the definitions declare it."""

import dagster as dg


def test_default_status_and_interval(definitions):
    sensor = definitions.get_repository_def().get_sensor_def("link_tables_late_changes_sensor")
    # LATE_CHANGES_SENSOR_SECONDS (5 s) less SENSOR_LOOP_JITTER_SECONDS: a tick at every visit of the daemon's loop.
    assert sensor.minimum_interval_seconds == 4
    assert {job.name for job in sensor.jobs} == {"front_links_job", "project_links_job"}
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING

"""What measures convo_pipelines without being part of it: the bench, with the `convo-pipelines` commands seed-demo,
bench and bench-report. It stands on the product: the demo seeder is the product's (convo_pipelines.lib.embedded),
and the app workload, the app's changes and the Zero processes are the product's tests' (convo_pipelines_tests,
read from the checkout). Neither the product nor its tests import this package."""

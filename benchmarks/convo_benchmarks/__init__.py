"""What measures and feeds convo_pipelines without being part of it: the bench, the demo seeders and the app
workload, with the `convo-pipelines` commands that run them. The product never imports this package."""

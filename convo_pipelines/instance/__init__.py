"""The Dagster instance's own plumbing (dagster.yaml names it): platform code that knows no asset and no definition."""

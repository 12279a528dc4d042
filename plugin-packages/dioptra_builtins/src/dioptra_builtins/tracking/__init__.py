"""Task plugins that record parameters and metrics of a run."""

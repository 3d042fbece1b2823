"""The checks a project runs: `make audit`, and the pre-commit hooks on data and tests."""

"""{{ cookiecutter.project_name }}: the project's own code.

The platform (loading and validating data, training, packaging, serving, scoring,
monitoring, the command line) is the `groundwork` runtime, a locked dependency. What
belongs here is what is particular to this project: its derived features (features.py),
helpers and models of its own, and the modules `make module` exports from notebooks. Each
module gets a test in tests/ (the `tested-modules` hook checks), and `make test` holds
this package to its coverage floor.
"""

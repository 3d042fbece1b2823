"""The project's own package (src/): it and each of its modules import."""

import importlib
import pkgutil

import {{ cookiecutter.module_name }} as package


def test_every_module_of_the_package_imports():
    # An import error, a cycle or a syntax error in the project's own code fails here,
    # naming the module, before a pipeline stage or the service trips on it.
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        importlib.import_module(info.name)

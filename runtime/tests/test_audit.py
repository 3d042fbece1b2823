"""`make audit` (tools/audit.py): pip-audit's outcome, read into exit codes a person can act on."""

import socket

import pytest

from groundwork.tools import audit

# The last line of pip-audit's traceback when a proxy (or the service) refuses the connection.
PROXY_REFUSED = (
    "requests.exceptions.ProxyError: HTTPSConnectionPool(host='pypi.org', port=443): Max "
    "retries exceeded with url: /pypi/anyio/4.6.0/json (Caused by ProxyError('Unable to "
    "connect to proxy', NewConnectionError('Failed to establish a new connection: [Errno "
    "111] Connection refused')))"
)
# pip-audit's table for one vulnerable package (its default `columns` format).
VULNERABLE = """\
Name   Version ID             Fix Versions
------ ------- -------------- ------------
jinja2 2.4.1   PYSEC-2019-217 2.10.1
"""


def test_a_clean_audit_passes():
    code, message = audit.outcome(0, "", "No known vulnerabilities found\n")
    assert code == 0
    assert message == "no known vulnerability in the locked dependencies"


def test_a_known_vulnerability_fails_with_the_table_and_the_fix():
    code, message = audit.outcome(1, VULNERABLE, "Found 1 known vulnerability in 1 package\n")
    assert code == 1
    assert "jinja2 2.4.1   PYSEC-2019-217 2.10.1" in message
    assert "uv lock --upgrade-package NAME" in message


def test_an_unreachable_service_has_its_own_code_and_a_plain_message():
    code, message = audit.outcome(1, None, f"Traceback (most recent call last):\n{PROXY_REFUSED}\n")
    assert code == 3
    assert message.startswith("the advisory service (https://pypi.org) could not be reached")
    assert "HTTPS_PROXY" in message
    assert "Traceback" not in message


def test_a_dependency_the_service_does_not_know_is_not_a_pass():
    stderr = (
        "ERROR:pip_audit._cli:private-lib: Dependency not found on PyPI and could not be "
        "audited: private-lib (1.0)\n"
    )
    code, message = audit.outcome(1, None, stderr)
    assert code == 2
    assert "private-lib: Dependency not found on PyPI" in message


# A project locked on one package from the registry: `make audit` exports uv.lock as hashed
# requirements, which pip-audit checks without installing anything.
LOCK = """\
version = 1
revision = 3
requires-python = ">=3.11"

[[package]]
name = "scratch"
version = "0.1.0"
source = {{ virtual = "." }}
dependencies = [{{ name = "{name}" }}]

[package.metadata]
requires-dist = [{{ name = "{name}" }}]

[[package]]
name = "{name}"
version = "{version}"
source = {{ registry = "https://pypi.org/simple" }}
wheels = [
    {{ url = "https://files.pythonhosted.org/packages/{wheel}-{version}-py3-none-any.whl", \
hash = "sha256:{sha256}", size = 11050 }},
]
"""
SIX = {"name": "six", "version": "1.17.0",
       "sha256": "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274"}  # fmt: skip


@pytest.fixture
def locked(tmp_path, monkeypatch):
    """Write a project locked on one package, and audit it from there with a cache of its own."""
    monkeypatch.chdir(tmp_path)
    for variable in ("XDG_CACHE_HOME", "PIP_CACHE_DIR"):
        monkeypatch.setenv(variable, str(tmp_path / "cache"))

    def lock(package: dict) -> None:
        (tmp_path / "pyproject.toml").write_text(
            f'[project]\nname = "scratch"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
            f'dependencies = ["{package["name"]}"]\n'
        )
        (tmp_path / "uv.lock").write_text(
            LOCK.format(wheel=package["name"].replace("-", "_"), **package)
        )

    return lock


def test_an_audit_through_a_proxy_that_refuses_fails_as_unreachable(locked, monkeypatch, capsys):
    locked(SIX)
    with socket.socket() as closed:  # bound, never listening: every connection is refused
        closed.bind(("127.0.0.1", 0))
        proxy = f"http://127.0.0.1:{closed.getsockname()[1]}"
        for variable in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(variable, proxy)
        for variable in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(variable, raising=False)
        assert audit.main() == audit.UNREACHABLE
    said = capsys.readouterr()
    assert said.out == "" and "could not be reached, so nothing was audited" in said.err


def test_a_locked_package_the_index_does_not_know_fails_the_audit(locked, capsys):
    """The service answers that it does not know the package (as it answers here offline
    too; a machine with no route to it at all would fail as unreachable instead)."""
    locked({"name": "groundwork-audit-no-such-package", "version": "1.0.0", "sha256": "0" * 64})
    assert audit.main() == audit.FAILED
    said = capsys.readouterr().err
    assert "groundwork-audit-no-such-package: Dependency not found on PyPI" in said
    assert said.endswith("pip-audit could not audit every dependency (above)\n")

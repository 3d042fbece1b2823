"""`make audit` (tools/audit.py): pip-audit's outcome, read into exit codes a person can act on."""

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

"""`make audit`: pip-audit over every locked dependency (uv.lock, all groups).

Exit codes: 0 no known vulnerability; 1 a known vulnerability; 2 pip-audit could not
audit every dependency (`--strict`: one the service does not know) or failed otherwise;
3 the advisory service (PyPI's JSON API) could not be reached, so nothing was checked.
An audit that could not run never passes.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

OK, FOUND, FAILED, UNREACHABLE = 0, 1, 2, 3
# What requests (under pip-audit) says when it cannot reach the service or the proxy.
UNREACHABLE_SIGNS = ("Max retries exceeded", "ConnectionError", "ConnectTimeout", "ProxyError")


def outcome(returncode: int, report: str | None, stderr: str) -> tuple[int, str]:
    """The exit code and message for a pip-audit run; `report` is None when it wrote none."""
    if returncode == 0:
        return OK, "no known vulnerability in the locked dependencies"
    if report is not None:
        return FOUND, (
            f"{report.rstrip()}\n\nknown vulnerabilities above: upgrade those packages "
            "(`uv lock --upgrade-package NAME`), then run `make audit` again"
        )
    if any(sign in stderr for sign in UNREACHABLE_SIGNS):
        return UNREACHABLE, (
            "the advisory service (https://pypi.org) could not be reached, so nothing was "
            "audited: check the network or HTTPS_PROXY, then run `make audit` again"
        )
    return FAILED, f"{stderr.rstrip()}\n\npip-audit could not audit every dependency (above)"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        requirements, report = Path(tmp) / "requirements.txt", Path(tmp) / "report.txt"
        export = ["uv", "export", "--frozen", "--all-groups", "--no-emit-project", "--quiet"]
        subprocess.run([*export, "--output-file", str(requirements)], check=True)
        # Hashed requirements let pip-audit skip pip's resolver (--disable-pip).
        audit = [sys.executable, "-m", "pip_audit", "--requirement", str(requirements)]
        options = ["--strict", "--disable-pip", "--progress-spinner", "off"]
        done = subprocess.run(
            [*audit, *options, "--output", str(report)], stderr=subprocess.PIPE, text=True
        )
        written = report.read_text() if report.exists() else None
    code, message = outcome(done.returncode, written, done.stderr)
    print(message, file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main())

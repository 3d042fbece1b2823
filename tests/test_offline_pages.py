"""The plots page `dvc plots show` writes displays every plot with no network at all.

Headless Chromium opens dvc_plots/index.html with every host unresolvable and every request
sent to a proxy that is not there, driven over the DevTools protocol (`--remote-debugging-pipe`:
NUL-separated JSON on file descriptors 3 and 4, so no port and no websocket library).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from conftest import COMBINATIONS, bake, missing_tool, run

pytestmark = pytest.mark.slow

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM = next((path for name in BROWSERS if (path := shutil.which(name))), None)

# No network: no host resolves, and anything that still tries goes to a closed port.
OFFLINE = ["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    *OFFLINE,
]
PLOTS = {
    "classification": ["confusion_matrix", "roc"],  # the sample target is binary
    "regression": ["predicted_vs_actual", "residuals"],
}
# Run in the page once it has loaded: what it shows, and everything it points outside to.
INSPECT = """(async () => {
  const images = [...document.images];
  await Promise.all(images.map((image) => image.decode().catch(() => null)));
  const links = [...document.querySelectorAll("[src], [href]")]
    .map((element) => element.getAttribute("src") || element.getAttribute("href"));
  return {
    images: images.map((image) => ({src: image.getAttribute("src"), width: image.naturalWidth})),
    remote: links.filter((url) => /^(https?:)?\\/\\//i.test(url)),
    drawn: document.querySelectorAll("svg, canvas").length,
  };
})()"""


# How talking to the browser fails: its pipe, its silence, or an error it answers.
FAILURES = (OSError, EOFError, TimeoutError, RuntimeError)


class Browser:
    """One headless Chromium, driven over the DevTools protocol through a pair of pipes."""

    def __init__(self, profile: Path, log):
        to_browser, self._writer = os.pipe()
        self._reader, from_browser = os.pipe()
        # Above 9, so the shell's `3<&N 4>&M` cannot clobber one with the other.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser, from_browser)]
        for fd in (to_browser, from_browser):
            os.close(fd)
        command = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe"]
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{high[0]} 4>&{high[1]}', "chromium", *command],
            pass_fds=high,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        for fd in high:
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._reader], [], [], left)[0]:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._reader, 1 << 16)
            if not chunk:
                raise EOFError("chromium closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._writer, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + 30
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def close(self):
        with contextlib.suppress(*FAILURES):
            self.send("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._writer)
        os.close(self._reader)


def evaluate(browser: Browser, session: str, expression: str):
    reply = browser.send(
        "Runtime.evaluate",
        {"expression": expression, "awaitPromise": True, "returnByValue": True},
        session=session,
    )
    if "exceptionDetails" in reply:
        raise RuntimeError(f"the page's script failed: {reply['exceptionDetails']}")
    return reply["result"].get("value")


def loaded(browser: Browser, session: str, url: str, timeout: float = 30) -> None:
    """Wait until the page at `url` has loaded, its images and scripts included (or failed)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if evaluate(browser, session, "location.href + ' ' + document.readyState") == (
                f"{url} complete"
            ):
                return
        except RuntimeError:  # the context went away as the navigation committed
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not finish loading")
        time.sleep(0.1)


def open_offline(page: Path) -> dict:
    """Load `page` in Chromium with the network blocked; what it shows and what it fetched."""
    return evaluate_offline(page, INSPECT)


def evaluate_offline(page: Path, expression: str) -> dict:
    """Load `page` with the network blocked, run `expression` (returning an object) in it,
    and add `requests`: every URL the page asked for."""
    with tempfile.TemporaryDirectory() as profile, tempfile.TemporaryFile("w+") as log:
        browser = Browser(Path(profile), log)
        try:
            target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            attached = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})
            session = attached["sessionId"]
            browser.send("Network.enable", session=session)
            browser.send("Page.enable", session=session)
            browser.send("Page.navigate", {"url": page.as_uri()}, session=session)
            loaded(browser, session, page.as_uri())
            found = evaluate(browser, session, expression)
        except FAILURES as error:
            log.seek(0)
            pytest.fail(f"chromium: {error}\n{log.read()[-4000:]}")
        finally:
            browser.close()
    found["requests"] = [
        event["params"]["request"]["url"]
        for event in browser.events
        if event.get("method") == "Network.requestWillBeSent"
    ]
    return found


@pytest.fixture(scope="session", autouse=True)
def chromium():
    """Skipped without Chromium on a workstation; in CI (.ci/run installs it) a failure."""
    if CHROMIUM is None:
        message = "chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: .ci/run installs it", pytrace=False)
        missing_tool(message)


@pytest.fixture(scope="module")
def regression_project(cookies_session) -> Path:
    project = bake(cookies_session, **COMBINATIONS["py313-noci-gcs"])
    run(["make", "pipeline"], project)
    return project


@pytest.fixture(params=list(PLOTS))
def task_project(request) -> tuple[str, Path]:
    """The default (binary classification) and the regression project, pipelines run."""
    fixture = "default_project" if request.param == "classification" else "regression_project"
    return request.param, request.getfixturevalue(fixture)


def test_plots_page_shows_every_plot_offline(task_project):
    task, project = task_project
    run(["uv", "run", "--frozen", "dvc", "plots", "show"], project)
    shown = open_offline(project / "dvc_plots/index.html")
    assert shown["remote"] == [], "the page points to the network"
    assert all(url.startswith(("file:", "data:")) for url in shown["requests"]), shown["requests"]
    for plot in PLOTS[task]:
        images = [image for image in shown["images"] if image["src"].endswith(f"_{plot}.png")]
        assert images, f"no {plot} image on the page: {shown['images']}"
        assert all(image["width"] > 0 for image in images), f"{plot} did not render: {images}"
    assert all(image["width"] > 0 for image in shown["images"]), shown["images"]


def test_the_probe_sees_a_data_plot_page_stay_blank(default_project, tmp_path):
    """The probe's own check, and the reason for image plots: DVC's page for a data (JSON)
    plot loads Vega from a CDN, so offline it draws nothing."""
    roc = "reports/evaluation/plots/sklearn/roc.json"
    out = tmp_path / "vega"
    run(["uv", "run", "--frozen", "dvc", "plots", "show", roc, "-x", "fpr", "-y", "tpr",
         "-o", str(out)], default_project)  # fmt: skip
    shown = open_offline(out / "index.html")
    assert any("cdn.jsdelivr.net" in url for url in shown["remote"]), shown["remote"]
    assert shown["drawn"] == 0 and shown["images"] == []

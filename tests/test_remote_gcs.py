"""The GCS remote option against a real GCS-compatible server (gcp-storage-emulator on
127.0.0.1): `dvc push` and `dvc pull` through a baked project, configured as the docs say."""

import hashlib
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import COMBINATIONS, ENV, bake, free_port, run

pytestmark = pytest.mark.slow

BUCKET = "groundwork-data"
# gcsfs asks a gRPC control API whether a bucket has a hierarchical namespace; an emulator
# has no such API, and each lookup waits 60 s before falling back (docs/how-to/remotes.md).
EMULATOR_ENV = {"GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}


@pytest.fixture(scope="module")
def gcs_endpoint():
    port = free_port()
    emulator = Path(sys.executable).parent / "gcp-storage-emulator"
    command = [str(emulator), "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory"]
    server = subprocess.Popen(
        [*command, "--default-bucket", BUCKET],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:  # up once it lists the bucket it was told to create
            listing = urllib.request.urlopen(f"{endpoint}/storage/v1/b", timeout=1)
            if BUCKET in {bucket["name"] for bucket in json.load(listing).get("items", [])}:
                break
        except OSError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            pytest.fail("gcp-storage-emulator did not start")
        time.sleep(0.2)
    yield endpoint
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()


def stored_objects(endpoint: str, prefix: str) -> dict[str, bytes]:
    """The bucket's objects under `prefix`, read through the emulator's JSON API."""
    query = urllib.parse.urlencode({"prefix": prefix})
    listing = json.load(urllib.request.urlopen(f"{endpoint}/storage/v1/b/{BUCKET}/o?{query}"))
    objects = {}
    for item in listing.get("items", []):
        name = urllib.parse.quote(item["name"], safe="")
        url = f"{endpoint}/storage/v1/b/{BUCKET}/o/{name}?alt=media"
        objects[item["name"]] = urllib.request.urlopen(url).read()
    return objects


def test_push_and_pull_through_gcs(cookies_session, gcs_endpoint, tmp_path):
    answers = COMBINATIONS["py313-noci-gcs"]
    project = bake(cookies_session, **answers, dvc_remote_url=f"gs://{BUCKET}/dvc")
    assert f"url = gs://{BUCKET}/dvc" in (project / ".dvc/config").read_text()
    # No credentials anywhere, so none can leak into the test: the emulator accepts
    # anonymous requests. The endpoint and the anonymous login go in the untracked
    # config.local, as docs/how-to/remotes.md shows.
    env = {k: v for k, v in ENV.items() if k not in ("GOOGLE_APPLICATION_CREDENTIALS",
                                                     "STORAGE_EMULATOR_HOST")}  # fmt: skip
    env |= EMULATOR_ENV
    for option, value in (("endpointurl", gcs_endpoint), ("allow_anonymous_login", "true")):
        run(["uv", "run", "dvc", "remote", "modify", "--local", "storage", option, value],
            project, env=env)  # fmt: skip
    assert "endpointurl" not in (project / ".dvc/config").read_text()
    assert run(["git", "status", "--porcelain"], project).stdout == ""  # config.local is ignored

    raw = project / "data/raw/diabetes.csv"
    original = raw.read_bytes()
    assert stored_objects(gcs_endpoint, "dvc/") == {}
    run(["uv", "run", "dvc", "push"], project, env=env, timeout=300)
    # The data itself is in the bucket, under DVC's content address.
    md5 = hashlib.md5(original).hexdigest()
    stored = stored_objects(gcs_endpoint, "dvc/")
    assert stored[f"dvc/files/md5/{md5[:2]}/{md5[2:]}"] == original

    raw.unlink()
    run(["rm", "-rf", ".dvc/cache"], project)
    run(["uv", "run", "dvc", "pull", "data/raw/diabetes.csv.dvc"], project, env=env, timeout=300)
    assert raw.read_bytes() == original

    # A fresh clone, with the committed config and the local settings, pulls from GCS.
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    (clone / ".dvc/config.local").write_text((project / ".dvc/config.local").read_text())
    dvc = str(project / ".venv/bin/dvc")  # the project's environment: no second install
    run([dvc, "pull", "data/raw/diabetes.csv.dvc"], clone, env=env, timeout=300)
    assert (clone / "data/raw/diabetes.csv").read_bytes() == original

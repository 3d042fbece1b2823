"""The S3 remote option against a real S3-compatible server (moto_server on 127.0.0.1)."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from conftest import ENV, bake, free_port, run

pytestmark = pytest.mark.slow

BUCKET = "groundwork-data"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    moto = Path(sys.executable).parent / "moto_server"
    server = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                pytest.fail("moto_server did not start")
            time.sleep(0.2)
    client = boto3.client("s3", endpoint_url=endpoint, **_boto_credentials())
    client.create_bucket(Bucket=BUCKET)
    yield endpoint, client
    server.terminate()
    server.wait(timeout=10)


def _boto_credentials() -> dict:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": CREDENTIALS["AWS_DEFAULT_REGION"],
    }


def test_push_and_pull_through_s3(cookies_session, s3_endpoint):
    endpoint, client = s3_endpoint
    project = bake(
        cookies_session,
        project_name="Cloud Data",
        dvc_remote="s3",
        dvc_remote_url=f"s3://{BUCKET}/dvc",
    )
    # Credentials come from the environment; the endpoint from the untracked config.local.
    env = {**ENV, **CREDENTIALS}
    run(["uv", "run", "dvc", "remote", "modify", "--local", "storage", "endpointurl", endpoint],
        project, env=env)  # fmt: skip
    assert "endpointurl" not in (project / ".dvc/config").read_text()
    assert run(["git", "status", "--porcelain"], project).stdout == ""  # config.local is ignored

    run(["uv", "run", "dvc", "push"], project, env=env)
    stored = client.list_objects_v2(Bucket=BUCKET, Prefix="dvc/")
    assert stored["KeyCount"] >= 1

    raw = project / "data/raw/breast_cancer.csv"
    original = raw.read_bytes()
    raw.unlink()
    run(["rm", "-rf", ".dvc/cache"], project)
    run(["uv", "run", "dvc", "pull", "data/raw/breast_cancer.csv.dvc"], project, env=env)
    assert raw.read_bytes() == original

    # A fresh clone gets its data from S3 through `make pipeline`.
    clone = project.parent / "cloud-data-clone"
    run(["git", "clone", "-q", str(project), str(clone)], project.parent)
    (clone / ".dvc/config.local").write_text((project / ".dvc/config.local").read_text())
    run(["make", "pipeline"], clone, env={**env, "UV_PROJECT_ENVIRONMENT": str(clone / ".venv")})
    assert (clone / "data/raw/breast_cancer.csv").read_bytes() == original


def test_without_credentials_the_error_is_dvcs_not_a_hang(cookies_session, s3_endpoint):
    endpoint, _ = s3_endpoint
    project = bake(cookies_session, project_name="No Creds", dvc_remote="s3")
    env = {k: v for k, v in ENV.items() if not k.startswith("AWS_")}
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(project / "absent")
    run(["uv", "run", "dvc", "remote", "modify", "--local", "storage", "endpointurl", endpoint],
        project, env=env)  # fmt: skip
    done = run(["uv", "run", "dvc", "push"], project, env=env, check=False, timeout=120)
    assert done.returncode != 0
    assert "credentials" in (done.stdout + done.stderr).lower()

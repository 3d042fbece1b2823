"""The container, its Kubernetes manifests and the CI stages that build and deploy it."""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from conftest import COMBINATIONS, ENV, TEMPLATE, bake, free_port, run

BIN = Path(ENV["PATH"].split(os.pathsep)[0])
# The oldest Kubernetes release the manifests promise to work on.
KUBERNETES_VERSION = "1.31.0"
BASE_IMAGE_SCRIPT = TEMPLATE / ".ci" / "make-base-image.sh"


def manifests(project: Path) -> dict[str, dict]:
    """deploy/*.yaml by kind."""
    docs = [yaml.safe_load(p.read_text()) for p in sorted((project / "deploy").glob("*.yaml"))]
    return {doc["kind"]: doc for doc in docs}


def test_dockerfile_passes_hadolint(default_project):
    hadolint = [str(BIN / "hadolint"), "--failure-threshold", "info", "Dockerfile"]
    done = run(hadolint, default_project)
    assert done.stdout == ""


def test_dockerignore_keeps_data_and_environments_out(default_project):
    """The build context holds only what the image needs (an allowlist)."""
    lines = (default_project / ".dockerignore").read_text().split("\n")
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert allowed == {"pyproject.toml", "uv.lock", "README.md", "LICENSE", "src", "models"}


def test_manifests_are_valid_kubernetes(default_project):
    resources = manifests(default_project)
    assert set(resources) == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    for resource in resources.values():
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    # The validator is strict: an unknown field is an error, not silently dropped.
    broken = copy.deepcopy(resources["Deployment"])
    broken["spec"]["template"]["spec"]["containers"][0]["healthCheck"] = "/health"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_manifests_fit_together_and_match_the_image(default_project):
    """What a schema cannot see: names, labels, ports and probes agree across files."""
    resources = manifests(default_project)
    deployment, service, hpa = (
        resources[k] for k in ("Deployment", "Service", "HorizontalPodAutoscaler")
    )
    name = default_project.name
    assert {r["metadata"]["name"] for r in resources.values()} == {name}
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"].items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels
    assert service["spec"]["selector"].items() <= labels
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": name,
    }
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert service["spec"]["ports"][0]["targetPort"] in ports
    dockerfile = (default_project / "Dockerfile").read_text()
    assert f"EXPOSE {ports['http']}" in dockerfile
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    uid = pod["spec"]["securityContext"]["runAsUser"]
    assert f"USER {uid}:" in dockerfile
    assert set(container["resources"]) == {"requests", "limits"}
    # Prometheus scrapes the API's own port and path; predictions outlive the pod on stdout.
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == ports["http"]
    assert annotations["prometheus.io/path"] == "/metrics"
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["PREDICTION_LOG"] == "-"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_make_deploy_swaps_in_the_pushed_image(default_project):
    """`make deploy` renders the Deployment with IMAGE before applying it (no cluster needed)."""
    image = "registry.example/team/app:abc123"
    dry = run(["make", "--dry-run", "deploy", f"IMAGE={image}"], default_project)
    render = next(line for line in dry.stdout.splitlines() if "set image --local" in line)
    rendered = run(render.split("|")[0], default_project).stdout
    (container,) = yaml.safe_load(rendered)["spec"]["template"]["spec"]["containers"]
    assert container["image"] == image


def check_schema(project: Path, schema: str, path: str) -> None:
    run([str(BIN / "check-jsonschema"), "--builtin-schema", schema, path], project)


@pytest.mark.slow
def test_github_workflow_builds_pushes_and_deploys_behind_approval(default_project):
    path = ".github/workflows/ci.yml"
    check_schema(default_project, "vendor.github-workflows", path)
    text = (default_project / path).read_text()
    # GitHub Container Registry paths are the repository's, lowercased.
    assert "ghcr.io/${GITHUB_REPOSITORY,,}" in text
    jobs = yaml.safe_load(text)["jobs"]
    image, deploy = jobs["image"], jobs["deploy"]
    assert "github.event_name == 'push'" in image["if"]
    assert image["permissions"]["packages"] == "write"
    assert deploy["needs"] == "image"
    assert deploy["environment"] == "production"
    steps = " ".join(step.get("run", "") for step in deploy["steps"])
    assert "make deploy" in steps


@pytest.mark.slow
def test_gitlab_ci_builds_pushes_and_deploys_manually(cookies):
    project = bake(cookies, **COMBINATIONS["py312-gitlab-s3"])
    check_schema(project, "vendor.gitlab-ci", ".gitlab-ci.yml")
    config = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    assert config["stages"][-2:] == ["image", "deploy"]
    build, deploy = config["build-image"], config["deploy"]
    # The image name (registry, model version, commit) comes from model-package's dotenv.
    assert "$CI_REGISTRY_IMAGE" in " ".join(config["model-package"]["script"])
    assert config["model-package"]["artifacts"]["reports"]["dotenv"] == "model.env"
    assert 'docker push "$IMAGE"' in build["script"]
    assert 'make deploy IMAGE="$IMAGE"' in deploy["script"]
    assert deploy["environment"]["name"] == "production"
    assert {rule["when"] for rule in deploy["rules"]} == {"manual"}
    assert any(line.startswith("make deploy") for line in deploy["script"])


# --- A real build: podman builds the baked project's Dockerfile and the image serves /health.

BASE_IMAGE = "docker.io/library/python:3.11-slim"


def podman_ready() -> str | None:
    """Why a real build cannot run here, or None when it can."""
    for tool in ("podman", "buildah"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install podman buildah debootstrap)"
    if subprocess.run(["podman", "image", "exists", BASE_IMAGE]).returncode != 0:
        return f"no base image {BASE_IMAGE}: make it with {BASE_IMAGE_SCRIPT.relative_to(TEMPLATE)}"
    return None


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the service exited {proc.returncode}:\n{proc.stdout.read()}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {timeout}s")


def http(method: str, url: str, body=None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.load(response)


def in_container(container: str, *command: str, project: Path) -> str:
    """Run a command in a working container of the image (buildah, chroot isolation)."""
    buildah_run = ["buildah", "run", "--isolation", "chroot", container, "--"]
    return run([*buildah_run, *command], project).stdout


@pytest.mark.slow
@pytest.mark.container
def test_image_builds_and_serves_the_production_model(cookies):
    reason = podman_ready()
    if reason:
        pytest.skip(reason)
    project = bake(cookies, **COMBINATIONS["default"])
    run(["make", "pipeline"], project)
    run(["make", "commit-run"], project)
    run(["make", "promote"], project)
    # The CI image jobs build once a tag matches this pattern: the promotion made one.
    assert run(["git", "tag", "--list", "model#prod#*"], project).stdout.strip()
    package = project / run(["uv", "run", project.name, "production"], project).stdout.strip()
    lineage = json.loads((package / "lineage.json").read_text())

    tag = f"localhost/{project.name}:test-{os.getpid()}"
    # chroot isolation: this machine cannot create the cgroups a container runtime needs.
    build_env = {**ENV, "BUILDAH_ISOLATION": "chroot"}
    run(["make", "image", "CONTAINER=podman", f"IMAGE={tag}"], project, env=build_env)
    container = None
    try:
        (inspect,) = json.loads(run(["podman", "image", "inspect", tag], project).stdout)
        config = inspect["Config"]
        assert config["User"] == "10001:10001"
        sha = run(["git", "rev-parse", "--short=12", "HEAD"], project).stdout.strip()
        assert f"GIT_SHA={sha}" in config["Env"]
        # Docker format keeps the HEALTHCHECK (OCI drops it); `make image` asks for it.
        health = inspect["Healthcheck"]["Test"]
        assert health[0] == "CMD"

        container = run(["buildah", "from", "--pull-never", tag], project).stdout.strip()
        # The runtime image holds the service and the model, not the pipeline or dev tools.
        listing = in_container(
            container, "python", "-c",
            "import importlib.metadata as m, json;"
            "print(json.dumps([d.metadata['Name'].lower() for d in m.distributions()]))",
            project=project,
        )  # fmt: skip
        installed = set(json.loads(listing))
        assert {project.name, "fastapi", "uvicorn"} <= installed
        assert not installed & {"dvc", "dvclive", "gto", "pytest", "ruff", "pre-commit"}

        # The image's own command, bound to 127.0.0.1 and a free port on this machine.
        port = str(free_port())
        command = [{"0.0.0.0": "127.0.0.1", "8000": port}.get(arg, arg) for arg in config["Cmd"]]
        assert command[:2] == [project.name, "serve"]
        server = subprocess.Popen(
            ["buildah", "run", "--isolation", "chroot", container, "--", *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(f"{url}/health", server)
            # The image's HEALTHCHECK, run inside the image.
            in_container(container, *[a.replace(":8000/", f":{port}/") for a in health[1:]],
                         project=project)  # fmt: skip
            status, metadata = http("GET", f"{url}/metadata")
            assert status == 200
            assert metadata["checksum"] == lineage["checksum"]
            assert metadata["path"] == "/app/model"
            example = http("GET", f"{url}/openapi.json")[1]["components"]["schemas"]["Record"]
            status, answer = http("POST", f"{url}/predict", example["examples"][0])
            assert status == 200 and len(answer["predictions"]) == 1
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        # The non-root service wrote its prediction log where the image lets it.
        log = in_container(container, "cat", "/app/logs/predictions.jsonl", project=project)
        assert json.loads(log.splitlines()[-1])["event"] == "prediction"
    finally:
        if container:
            run(["buildah", "rm", container], project, check=False)
        run(["podman", "rmi", "--force", tag], project, check=False)

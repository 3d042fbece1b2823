"""The Kubernetes manifests in deploy/ fit together, fit the image, and work in a cluster:
what `kubectl apply` accepts but a running pod would trip on."""

import re

import yaml
from conftest import ROOT

# A Secret volume's files have this mode unless the volume sets `defaultMode`.
SECRET_MODE = 0o644


def manifests() -> dict[str, dict]:
    """deploy/*.yaml by kind."""
    docs = [yaml.safe_load(path.read_text()) for path in sorted((ROOT / "deploy").glob("*.yaml"))]
    return {doc["kind"]: doc for doc in docs}


def pod_spec() -> dict:
    return manifests()["Deployment"]["spec"]["template"]["spec"]


def readable(mode: int, uid: int | None, groups: set[int], file_gid: int) -> bool:
    """Whether a process of `uid` and `groups` reads a file of root's with `mode` and group
    `file_gid`. The containers drop every capability, so root too reads by the mode alone."""
    return bool(
        mode & 0o004 or (uid == 0 and mode & 0o400) or (file_gid in groups and mode & 0o040)
    )


def unreadable_secrets(pod: dict) -> list[str]:
    """Each Secret volume a container mounts but cannot read. Kubernetes writes a Secret's
    files owned by root, in group root unless the pod sets `fsGroup`: then in that group,
    which every container of the pod holds."""
    context = pod.get("securityContext", {})
    fs_group = context.get("fsGroup")
    file_gid = 0 if fs_group is None else fs_group
    secrets = {v["name"]: v["secret"] for v in pod.get("volumes", []) if "secret" in v}
    problems = []
    for container in pod["containers"]:
        own = {**context, **container.get("securityContext", {})}
        uid = own.get("runAsUser")
        groups = {own.get("runAsGroup"), fs_group, *context.get("supplementalGroups", [])}
        groups.discard(None)
        for mount in container.get("volumeMounts", []):
            secret = secrets.get(mount["name"])
            if secret is None:
                continue
            default = secret.get("defaultMode", SECRET_MODE)
            modes = {item.get("mode", default) for item in secret.get("items", [])} or {default}
            for mode in sorted(m for m in modes if not readable(m, uid, groups, file_gid)):
                problems.append(
                    f"{container['name']} cannot read the Secret volume {mount['name']!r}: mode "
                    f"{mode:#o}, files owned by uid 0 gid {file_gid}, the container runs as uid "
                    f"{uid} with groups {sorted(groups)}; set the pod's securityContext.fsGroup "
                    f"to one of its groups"
                )
    return problems


def test_the_pod_reads_the_secrets_it_mounts():
    assert unreadable_secrets(pod_spec()) == []


def test_a_secret_the_pod_cannot_read_is_named_with_the_fix():
    # A Secret's name, not a secret:
    volume = {"secretName": "api-keys", "defaultMode": 0o440}  # pragma: allowlist secret
    keys = {"name": "keys", "secret": volume}
    container = {"name": "api", "volumeMounts": [{"name": "keys", "mountPath": "/keys"}]}
    pod = {
        "securityContext": {"runAsUser": 10001, "runAsGroup": 10001},
        "containers": [container],
        "volumes": [keys],
    }
    [problem] = unreadable_secrets(pod)
    assert "api cannot read the Secret volume 'keys': mode 0o440" in problem
    assert "set the pod's securityContext.fsGroup" in problem
    # The fixes: the pod's group owns the files, or the mode lets anyone read them.
    assert unreadable_secrets({**pod, "securityContext": {"runAsUser": 10001, "fsGroup": 2}}) == []
    volume["defaultMode"] = 0o444
    assert unreadable_secrets(pod) == []
    # A key listed with its own mode has that mode, whatever the default.
    volume["items"] = [{"key": "api-keys", "path": "api-keys", "mode": 0o400}]
    assert len(unreadable_secrets(pod)) == 1


def test_the_service_and_the_autoscaler_find_the_deployment():
    resources = manifests()
    assert set(resources) == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    deployment, service = resources["Deployment"], resources["Service"]
    name = "{{ cookiecutter.project_slug }}"
    assert {resource["metadata"]["name"] for resource in resources.values()} == {name}
    labels = deployment["spec"]["template"]["metadata"]["labels"].items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels
    assert service["spec"]["selector"].items() <= labels
    target = resources["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert target == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}


def test_ports_probes_and_user_agree_with_the_image():
    pod = manifests()["Deployment"]["spec"]["template"]
    [container] = pod["spec"]["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    http = ports["http"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    # The image serves on the port the pod declares, and checks its health at /health there.
    assert f"EXPOSE {http}\n" in dockerfile
    assert f'"--port", "{http}"' in dockerfile
    assert f"127.0.0.1:{http}/health" in dockerfile
    [service_port] = manifests()["Service"]["spec"]["ports"]
    assert service_port["targetPort"] in ports
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == http
    assert annotations["prometheus.io/path"] == "/metrics"
    # Predictions go to stdout, for the cluster's log collector: they outlive the pod.
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["PREDICTION_LOG"] == "-"
    # The pod runs as the image's user, never root, on a read-only root filesystem.
    context = pod["spec"]["securityContext"]
    assert context["runAsNonRoot"] is True
    assert f"USER {context['runAsUser']}:{context['runAsGroup']}\n" in dockerfile
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert set(container["resources"]) == {"requests", "limits"}


def test_the_secrets_it_uses_are_those_the_docs_create():
    """Each Secret (and key) the Deployment reads is made by a `kubectl create secret`
    command of docs/deploy.md, and API_KEYS_FILE is the keys Secret's file."""
    pod = pod_spec()
    [container] = pod["containers"]
    created = set(
        re.findall(
            r"kubectl create secret generic (\S+) --from-file=([\w.-]+)=",
            (ROOT / "docs/deploy.md").read_text(),
        )
    )
    env = {item["name"]: item for item in container["env"]}
    # Keys come from the Secret alone, and the pod never serves without them.
    assert "API_KEYS" not in env and "ALLOW_ANONYMOUS" not in env
    volumes = {v["name"]: v for v in pod["volumes"]}
    used = set()
    for mount in container["volumeMounts"]:
        if "secret" not in volumes[mount["name"]]:
            continue
        # The keys it reads: the files that variables point to in the mounted folder.
        assert mount["readOnly"] is True
        secret, folder = volumes[mount["name"]]["secret"]["secretName"], mount["mountPath"] + "/"
        files = [item.get("value", "") for item in env.values()]
        keys = [path.removeprefix(folder) for path in files if path.startswith(folder)]
        assert keys, f"no variable names a file of the Secret volume {mount['name']!r}"
        used |= {(secret, key) for key in keys}
    for item in env.values():
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            used.add((ref["name"], ref["key"]))
    name = "{{ cookiecutter.project_slug }}"
    assert (f"{name}-api-keys", "api-keys") in used
    assert used <= created, f"no command in docs/deploy.md creates {sorted(used - created)}"

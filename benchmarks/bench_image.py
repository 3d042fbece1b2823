"""The service image's own layers: this tree's against the template's last commit (HEAD).

Bakes the default project from this tree and from `git archive HEAD` of the template, runs
the pipeline once (in the first bake) and builds both images with `make image` around that
same model package (ONNX verified), with podman on the local base image
(.ci/make-base-image.sh). The figure is an image's size minus the base image's: what the
project adds. Target: <= 200 MB for an ONNX package.

    .venv/bin/python benchmarks/bench_image.py [--keep]

Exits non-zero only on errors; a missed target prints MISSED.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _baked import ENV, TEMPLATE, machine_line, run, verdict

BASE_IMAGE = "docker.io/library/python:3.11-slim"
TARGET_MB = 200
# What an ONNX package's service must not carry.
HEAVY = {"scikit-learn", "scipy", "pandas", "pyarrow", "hydra-core", "dvc", "jupyterlab"}
LIST_DISTRIBUTIONS = (
    "import importlib.metadata as m, json;"
    "print(json.dumps(sorted({d.metadata['Name'].lower() for d in m.distributions()})))"
)


def bake(template: Path, out: Path) -> Path:
    out.mkdir(parents=True)
    run(["cookiecutter", "--no-input", str(template), "-o", str(out)], out)
    [baked] = [p for p in out.iterdir() if (p / "pyproject.toml").exists()]
    return baked


def size(image: str) -> int:
    (inspect,) = json.loads(run(["podman", "image", "inspect", image], TEMPLATE).stdout)
    return inspect["Size"]


def distributions(image: str) -> list[str]:
    container = run(["buildah", "from", "--pull-never", image], TEMPLATE).stdout.strip()
    try:
        command = ["buildah", "run", "--isolation", "chroot", container, "--"]
        return json.loads(run([*command, "python", "-c", LIST_DISTRIBUTIONS], TEMPLATE).stdout)
    finally:
        run(["buildah", "rm", container], TEMPLATE, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the images and the bakes")
    args = parser.parse_args()
    if subprocess.run(["podman", "image", "exists", BASE_IMAGE]).returncode != 0:
        sys.exit(f"no base image {BASE_IMAGE}: make it with .ci/make-base-image.sh 3.11")

    scratch = Path(tempfile.mkdtemp(prefix="bench-image-"))
    head_template = scratch / "head-template"
    head_template.mkdir()
    archive = subprocess.run(["git", "-C", str(TEMPLATE), "archive", "HEAD"], check=True,
                             capture_output=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(head_template)], input=archive, check=True)
    print(f"baking this tree and HEAD ({head_template}) ...", flush=True)
    current = bake(TEMPLATE, scratch / "current")
    head = bake(head_template, scratch / "head")
    print("running the pipeline once (make pipeline) ...", flush=True)
    run(["make", "pipeline"], current)
    package = current / "models/candidate"
    if not (package / "model.onnx").is_file():
        sys.exit(f"{package} has no verified ONNX file: this benchmark needs one")
    shutil.copytree(package, head / "models/candidate")

    build_env = {**ENV, "BUILDAH_ISOLATION": "chroot"}
    base = size(BASE_IMAGE)
    figures = {}
    try:
        for name, baked in (("HEAD", head), ("this tree", current)):
            image = f"localhost/bench-image:{'head' if name == 'HEAD' else 'current'}"
            print(f"building {image} (make image CONTAINER=podman) ...", flush=True)
            run(["make", "image", "CONTAINER=podman", f"IMAGE={image}",
                 "MODEL_DIR=models/candidate"], baked, env=build_env)  # fmt: skip
            figures[name] = (size(image), sorted(HEAVY & set(distributions(image))))
    finally:
        if not args.keep:
            for tag in ("head", "current"):
                run(["podman", "rmi", "--force", f"localhost/bench-image:{tag}"], TEMPLATE,
                    check=False)  # fmt: skip
            shutil.rmtree(scratch, ignore_errors=True)

    print(f"\nbase image {BASE_IMAGE}: {base / 1e6:.0f} MB")
    for name, (total, heavy) in figures.items():
        carried = ", ".join(heavy) or "none"
        own = (total - base) / 1e6
        print(f"  {name:<10} image {total / 1e6:6.0f} MB   own layers {own:6.1f} MB"
              f"   pipeline libraries: {carried}")  # fmt: skip
    own_head, own_now = (figures[name][0] - base for name in ("HEAD", "this tree"))
    print(f"\nown layers: {own_now / 1e6:.1f} MB, {own_now / own_head:.2f}x HEAD's "
          f"{own_head / 1e6:.1f} MB (target <= {TARGET_MB} MB)  "
          f"{verdict(own_now <= TARGET_MB * 1e6)}")  # fmt: skip
    print(machine_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Refuse bad answers before cookiecutter writes anything.

Every check is a plain function that returns error messages, so the template's
tests import and call them directly. Cookiecutter renders only the ANSWERS line.
"""

from __future__ import annotations

import json
import keyword
import re
import shutil
import sys

ANSWERS = r"""{{ cookiecutter | tojson }}"""

PYTHON_VERSIONS = ("3.11", "3.12", "3.13")
LICENSES = ("MIT", "BSD-3-Clause", "Apache-2.0", "Proprietary")
CI_PROVIDERS = ("github", "gitlab", "none")
TASKS = ("classification", "regression")
REMOTE_SCHEMES = {"local": None, "s3": "s3://", "gcs": "gs://", "azure": "azure://"}

# Import names the generated project depends on or uses as folders: a package
# with one of these names would shadow the real one.
RESERVED_MODULES = frozenset(
    {
        "test", "tests", "src", "conf", "data", "docs", "notebooks", "models",
        "pandas", "numpy", "sklearn", "scipy", "pyarrow", "joblib",
        "dvc", "dvclive", "gto", "hydra", "omegaconf", "pandera", "pydantic",
        "structlog", "fastapi", "uvicorn", "starlette", "pytest", "ruff", "setuptools",
        "groundwork",  # the runtime
    }
)  # fmt: skip

MAX_SLUG_LENGTH = 63  # a Kubernetes object name (the deploy/ manifests use the slug)
# The generated code imports the package by name and keeps to 100-character lines.
MAX_MODULE_LENGTH = 63
SLUG_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
MODULE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def suggest_slug(text: str) -> str:
    """Turn any text into a valid slug, for the error message."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug if slug and slug[0].isalpha() else f"project-{slug}".rstrip("-")


def check_project_name(name: str) -> list[str]:
    if not name.strip():
        return ["project_name is empty: type a human-readable name such as 'Churn Model'."]
    return []


def check_description(text: str) -> list[str]:
    if '"' in text or "\\" in text:
        return [
            "description contains a double quote or a backslash: rephrase it with single "
            "quotes, since it is written into Python and TOML strings."
        ]
    return []


def check_slug(slug: str) -> list[str]:
    if len(slug) > MAX_SLUG_LENGTH:
        return [
            f"project_slug {slug!r} is {len(slug)} characters long: Kubernetes names it is used "
            f"for allow {MAX_SLUG_LENGTH}; type a shorter one."
        ]
    if SLUG_RE.match(slug):
        return []
    return [
        f"project_slug {slug!r} is not a valid distribution and command name: use lowercase "
        f"letters, digits and single hyphens, starting with a letter, e.g. {suggest_slug(slug)!r}."
    ]


def check_module_name(module: str) -> list[str]:
    fix = re.sub(r"[^a-z0-9_]+", "_", module.lower()).strip("_") or "project"
    if not MODULE_RE.match(module):
        return [
            f"module_name {module!r} is not a valid package name: use lowercase letters, digits "
            f"and underscores, starting with a letter, e.g. {fix!r}."
        ]
    if len(module) > MAX_MODULE_LENGTH:
        return [
            f"module_name {module!r} is {len(module)} characters long: the project's imports of "
            f"it must fit its 100-character lines, which allow {MAX_MODULE_LENGTH}; type a "
            f"shorter one, e.g. {module[:MAX_MODULE_LENGTH].rstrip('_')!r}."
        ]
    if keyword.iskeyword(module) or keyword.issoftkeyword(module):
        return [f"module_name {module!r} is a Python keyword: try '{module}_model'."]
    if module in sys.stdlib_module_names:
        return [
            f"module_name {module!r} would shadow the standard library module of that name: "
            f"try '{module}_model' or 'my_{module}'."
        ]
    if module in RESERVED_MODULES:
        return [
            f"module_name {module!r} would shadow a dependency or folder of the project: "
            f"try '{module}_model' or 'my_{module}'."
        ]
    return []


def check_email(email: str) -> list[str]:
    if EMAIL_RE.match(email):
        return []
    return [f"author_email {email!r} is not an email address: type one like 'ada@example.com'."]


def check_choice(key: str, value: str, choices: tuple[str, ...]) -> list[str]:
    if value in choices:
        return []
    return [f"{key} {value!r} is not supported: choose one of {', '.join(choices)}."]


def check_remote(remote: str, url: str) -> list[str]:
    if remote not in REMOTE_SCHEMES:
        return check_choice("dvc_remote", remote, tuple(REMOTE_SCHEMES))
    scheme = REMOTE_SCHEMES[remote]
    if not url:
        return []
    if scheme is None and "://" in url:
        return [
            f"dvc_remote_url {url!r} is a cloud URL but dvc_remote is 'local': give a directory "
            f"path, or choose the dvc_remote that matches the URL."
        ]
    if scheme is not None and not url.startswith(scheme):
        return [
            f"dvc_remote_url {url!r} does not match dvc_remote {remote!r}: it must start with "
            f"{scheme!r} (e.g. '{scheme}my-bucket/dvc'), or leave it empty for the default."
        ]
    return []


def check_tools(which=shutil.which) -> list[str]:
    errors = []
    if which("git") is None:
        errors.append("git is not installed or not on PATH: install git, then bake again.")
    if which("uv") is None:
        errors.append(
            "uv is not installed or not on PATH: install it (e.g. 'pip install uv'), "
            "then bake again."
        )
    return errors


def validate(answers: dict, which=shutil.which) -> list[str]:
    """Every problem with the answers, as messages that say what to type instead."""
    errors = check_project_name(answers["project_name"])
    errors += check_description(answers["description"])
    errors += check_slug(answers["project_slug"])
    errors += check_module_name(answers["module_name"])
    errors += check_email(answers["author_email"])
    errors += check_choice("python_version", answers["python_version"], PYTHON_VERSIONS)
    errors += check_choice("license", answers["license"], LICENSES)
    errors += check_choice("ci", answers["ci"], CI_PROVIDERS)
    errors += check_choice("task", answers["task"], TASKS)
    errors += check_remote(answers["dvc_remote"], answers["dvc_remote_url"])
    errors += check_tools(which)
    return errors


def main() -> int:
    answers = json.loads(ANSWERS)
    errors = validate(answers)
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    if errors:
        print(
            "Nothing was generated. Run cookiecutter again with corrected answers.", file=sys.stderr
        )
        return 1
    print(f"Answers checked. Rendering the files into {answers['project_slug']}/ ...", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

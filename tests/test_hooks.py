"""Unit tests of the hook functions, imported from the unrendered hook scripts."""

import json
import subprocess

import pytest
from conftest import TEMPLATE, load_hook

pre = load_hook("pre_gen_project")
post = load_hook("post_gen_project")

DEFAULTS = json.loads((TEMPLATE / "cookiecutter.json").read_text())
GOOD = {
    "project_name": "Tumour Classifier",
    "project_slug": "tumour-classifier",
    "module_name": "tumour_classifier",
    "description": "A classifier.",
    "author_name": "Ada Lovelace",
    "author_email": "ada@example.com",
    "python_version": "3.11",
    "license": "MIT",
    "ci": "github",
    "task": "classification",
    "dvc_remote": "local",
    "dvc_remote_url": "",
}


def have_everything(_name):
    return "/usr/bin/tool"


def test_good_answers_pass():
    assert pre.validate(GOOD, which=have_everything) == []


def test_choice_lists_match_cookiecutter_json():
    assert tuple(DEFAULTS["python_version"]) == pre.PYTHON_VERSIONS
    assert tuple(DEFAULTS["license"]) == pre.LICENSES
    assert tuple(DEFAULTS["ci"]) == pre.CI_PROVIDERS
    assert tuple(DEFAULTS["dvc_remote"]) == tuple(pre.REMOTE_SCHEMES)
    assert set(post.CI_FILES) == set(pre.CI_PROVIDERS)
    assert tuple(DEFAULTS["task"]) == pre.TASKS
    assert set(post.TASK_FILES) == set(post.SAMPLE_DATA) == set(pre.TASKS)


@pytest.mark.parametrize(
    ("module", "fragment"),
    [
        ("class", "keyword"),
        ("match", "keyword"),
        ("logging", "standard library"),
        ("json", "standard library"),
        ("test", "shadow"),
        ("pandas", "dependency"),
        ("dvc", "dependency"),
        ("tests", "dependency"),
        ("My-Module", "not a valid package name"),
        ("1model", "not a valid package name"),
    ],
)
def test_bad_module_names_say_why_and_what_to_type(module, fragment):
    (message,) = pre.check_module_name(module)
    assert fragment in message
    assert "e.g." in message or "try" in message


@pytest.mark.parametrize(
    "slug", ["My Project", "-lead", "trail-", "a--b", "9lives", "snake_case", ""]
)
def test_bad_slugs_get_a_valid_suggestion(slug):
    (message,) = pre.check_slug(slug)
    suggestion = message.split("e.g. ")[1].strip(".'")
    assert pre.check_slug(suggestion) == []


@pytest.mark.parametrize("email", ["ada", "ada@", "@example.com", "ada@example", "a b@example.com"])
def test_bad_emails(email):
    assert pre.check_email(email)


def test_remote_url_must_match_remote_type():
    assert pre.check_remote("s3", "gs://bucket") != []
    assert pre.check_remote("local", "s3://bucket") != []
    assert pre.check_remote("azure", "azure://container/path") == []
    assert pre.check_remote("gcs", "") == []
    assert "choose one of" in pre.check_remote("ftp", "")[0]


def test_missing_tools_are_named():
    messages = pre.check_tools(which=lambda name: None)
    assert any("git is not installed" in m for m in messages)
    assert any("uv is not installed" in m for m in messages)


def test_description_with_quotes_is_refused():
    assert pre.check_description('Say "hi"')
    assert pre.check_description("It's fine") == []


def test_prune_keeps_only_the_chosen_ci(tmp_path):
    (tmp_path / ".github/workflows").mkdir(parents=True)
    (tmp_path / ".gitlab-ci.yml").write_text("stages: []\n")
    post.prune(tmp_path, "gitlab")
    assert not (tmp_path / ".github").exists()
    assert (tmp_path / ".gitlab-ci.yml").exists()
    post.prune(tmp_path, "none")
    assert not (tmp_path / ".gitlab-ci.yml").exists()


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_prune_keeps_only_the_chosen_task_files(tmp_path, task):
    everything = [*post.SAMPLE_DATA.values(), *(f for fs in post.TASK_FILES.values() for f in fs)]
    for rel in everything:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    post.prune(tmp_path, "none", task)
    kept = {rel for rel in everything if (tmp_path / rel).exists()}
    assert kept == {post.SAMPLE_DATA[task], *post.TASK_FILES[task]}


def test_setup_tracks_the_sample_of_the_chosen_task():
    answers = {**GOOD, "task": "regression"}
    assert ["add", "--quiet", "data/raw/diabetes.csv"] in post.dvc_commands(answers)


@pytest.mark.parametrize(
    ("remote", "expected"),
    [("local", "../tumour-classifier-dvc-storage"), ("s3", "s3://tumour-classifier-dvc"),
     ("gcs", "gs://tumour-classifier-dvc"), ("azure", "azure://tumour-classifier-dvc")],
)  # fmt: skip
def test_default_remote_urls(remote, expected):
    assert post.remote_url({**GOOD, "dvc_remote": remote}) == expected
    assert post.remote_url({**GOOD, "dvc_remote": remote, "dvc_remote_url": "x"}) == "x"


def test_only_the_local_remote_is_pushed_at_generation():
    assert ["push", "--quiet"] in post.dvc_commands(GOOD)
    assert ["push", "--quiet"] not in post.dvc_commands({**GOOD, "dvc_remote": "s3"})


def test_author_answers_stand_in_for_a_missing_git_identity(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_AUTHOR_NAME", raising=False)
    monkeypatch.delenv("GIT_AUTHOR_EMAIL", raising=False)
    env = post.git_identity_env(GOOD, project=tmp_path)
    assert env["GIT_AUTHOR_NAME"] == env["GIT_COMMITTER_NAME"] == "Ada Lovelace"
    assert env["GIT_AUTHOR_EMAIL"] == "ada@example.com"


def test_a_configured_git_identity_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("GIT_AUTHOR_NAME", raising=False)
    subprocess.run(["git", "config", "--global", "user.name", "Grace"], check=True)
    subprocess.run(["git", "config", "--global", "user.email", "g@example.com"], check=True)
    env = post.git_identity_env(GOOD, project=tmp_path)
    assert "GIT_AUTHOR_NAME" not in env


def test_failed_command_names_itself_and_its_output(tmp_path):
    with pytest.raises(post.SetupError, match="'git frobnicate' failed"):
        post.run(["git", "frobnicate"], tmp_path)
    with pytest.raises(post.SetupError, match="not found: install it"):
        post.run(["no-such-tool-here"], tmp_path)


def test_cruft_state_records_template_commit_and_answers(tmp_path):
    answers = {**GOOD, "_template": str(TEMPLATE), "_repo_dir": str(TEMPLATE), "_checkout": None}
    post.write_cruft_state(tmp_path, answers)
    state = json.loads((tmp_path / ".cruft.json").read_text())
    assert state["template"] == str(TEMPLATE)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=TEMPLATE, capture_output=True, text=True
    ).stdout.strip()
    assert state["commit"] == (head or None)
    assert state["context"]["cookiecutter"]["project_slug"] == "tumour-classifier"
    assert "_repo_dir" not in state["context"]["cookiecutter"]


def test_abbreviated_template_is_expanded_for_cruft():
    template, commit = post.template_source({"_template": "gh:acme/groundwork"})
    assert template == "https://github.com/acme/groundwork.git"
    assert commit is None


def test_hooks_contain_no_jinja_logic():
    for name in ("pre_gen_project", "post_gen_project"):
        text = (TEMPLATE / "hooks" / f"{name}.py").read_text()
        assert "{%" not in text
        assert text.count("{{") == 1, "only the ANSWERS line is rendered"

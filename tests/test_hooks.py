"""Unit tests of the hook functions, imported from the unrendered hook scripts."""

import json
import subprocess
from pathlib import Path

import pytest
from conftest import ENV, TEMPLATE, load_hook
from cookiecutter.main import cookiecutter

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


def test_every_question_has_a_human_label():
    labels = DEFAULTS["__prompts__"]
    questions = [key for key in DEFAULTS if not key.startswith("_")]
    assert [key for key in questions if key not in labels] == []
    assert set(labels) <= set(questions), "a label for a question that does not exist"


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


def test_dvc_requirement_is_the_projects_own_without_extras(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('pipeline = [\n    "dvc[s3]>=3.55",\n    "dvclive>=3.48",\n]\n')
    assert post.dvc_requirement(tmp_path) == "dvc>=3.55"
    pyproject.write_text('pipeline = ["dvclive>=3.48", "dvc >= 3.55, <4"]\n')
    assert post.dvc_requirement(tmp_path) == "dvc>=3.55,<4"
    pyproject.write_text('pipeline = ["dvclive>=3.48"]\n')
    assert post.dvc_requirement(tmp_path) == "dvc"


def test_locked_version_reads_uv_lock(tmp_path):
    (tmp_path / "uv.lock").write_text(
        '[[package]]\nname = "dvc-data"\nversion = "3.16.0"\n\n'
        '[[package]]\nname = "dvc"\nversion = "3.61.0"\nsource = { registry = "x" }\n'
    )
    assert post.locked_version(tmp_path, "dvc") == "3.61.0"
    assert post.locked_version(tmp_path, "dvclive") is None


class FakeCommands:
    """Stands in for `post.run`: records each command, fails the ones it is told to, and
    plays uv (the lock names `locked`; a DVC run prints the version it was asked for)."""

    def __init__(self, locked="3.61.0", available="3.61.0", fail=()):
        self.locked, self.available, self.fail, self.calls = locked, available, fail, []

    def __call__(self, cmd, cwd, env=None):
        self.calls.append(cmd)
        for fragment, returncode in self.fail:
            if fragment in " ".join(cmd):
                raise post.SetupError(f"'{cmd[0]}' failed", returncode)
        if cmd[:2] == ["uv", "lock"]:
            (Path(cwd) / "uv.lock").write_text(
                f'[[package]]\nname = "dvc"\nversion = "{self.locked}"\n'
            )
        if cmd[:3] == ["uv", "tool", "run"]:
            spec = cmd[cmd.index("--from") + 1]
            return "1 file pushed\n" + (spec.split("==")[1] if "==" in spec else self.available)
        return ""

    def dvc_runs(self):
        runs = [cmd for cmd in self.calls if cmd[:3] == ["uv", "tool", "run"]]
        return [cmd[cmd.index("--from") + 1] for cmd in runs]


@pytest.fixture
def project(tmp_path):
    (tmp_path / "pyproject.toml").write_text('pipeline = ["dvc>=3.55"]\n')
    return tmp_path


def test_setup_locks_offline_and_runs_dvc_from_the_cache_once(project, monkeypatch):
    fake = FakeCommands()
    monkeypatch.setattr(post, "run", fake)
    said = []
    post.setup_repository(project, GOOD, say=said.append)
    assert ["uv", "lock", "--offline", "--quiet"] in fake.calls
    assert ["uv", "lock", "--quiet"] not in fake.calls
    assert fake.dvc_runs() == ["dvc>=3.55"]
    (dvc_run,) = [cmd for cmd in fake.calls if cmd[:3] == ["uv", "tool", "run"]]
    assert "--offline" in dvc_run and json.loads(dvc_run[-1]) == post.dvc_commands(GOOD)
    assert fake.calls[-1][:2] == ["git", "commit"]
    assert [line.split()[0] for line in said] == ["Initialising", "Locking", "Putting", "Making"]


def test_setup_goes_online_only_when_the_cache_cannot_answer(project, monkeypatch):
    fake = FakeCommands(fail=[("lock --offline", 2), ("tool run --offline", 1)])
    monkeypatch.setattr(post, "run", fake)
    said = []
    post.setup_repository(project, GOOD, say=said.append)
    assert ["uv", "lock", "--quiet"] in fake.calls
    assert fake.dvc_runs() == ["dvc>=3.55", "dvc>=3.55"]
    assert any("asking the package index" in line for line in said)


def test_a_failing_dvc_command_is_not_retried_online(project, monkeypatch):
    fake = FakeCommands(fail=[("tool run --offline", post.DVC_FAILED)])
    monkeypatch.setattr(post, "run", fake)
    with pytest.raises(post.SetupError):
        post.setup_repository(project, GOOD, say=lambda line: None)
    assert fake.dvc_runs() == ["dvc>=3.55"]


def test_dvc_is_set_up_again_when_its_version_is_not_the_locked_one(project, monkeypatch):
    fake = FakeCommands(locked="3.60.1", available="3.61.0")
    monkeypatch.setattr(post, "run", fake)
    said = []
    post.setup_repository(project, GOOD, say=said.append)
    assert fake.dvc_runs() == ["dvc>=3.55", "dvc==3.60.1"]
    assert any("3.61.0 is not the locked 3.60.1" in line for line in said)


def test_dvc_setup_can_run_twice_over_the_same_project(tmp_path):
    """The second run (another DVC version, after the lock) redoes the first one cleanly."""
    cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(tmp_path), accept_hooks=False)
    project = tmp_path / "tumour-classifier"
    post.prune(project, GOOD["ci"], GOOD["task"])
    subprocess.run(["git", "init", "--quiet"], cwd=project, check=True)
    env = {**ENV, "DVC_NO_ANALYTICS": "1"}
    first = post.setup_dvc(project, GOOD, env, post.dvc_requirement(project))
    again = post.setup_dvc(project, GOOD, env, f"dvc=={first}")
    assert again == first
    config = (project / ".dvc" / "config").read_text()
    assert config.count('remote "storage"') == 1 and "enabled = true" in config
    assert (project / "data/raw/breast_cancer.csv.dvc").exists()
    storage = tmp_path / "tumour-classifier-dvc-storage"
    assert len([path for path in storage.rglob("*") if path.is_file()]) == 1


def test_the_bake_says_what_it_does_in_order(tmp_path):
    """A real bake on the command line: one line per step, then the next commands."""
    done = subprocess.run(
        ["cookiecutter", "--no-input", str(TEMPLATE), "-o", str(tmp_path)],
        env=ENV, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    expected = [
        "Answers checked. Rendering the files into tumour-classifier/ ...",
        "Initialising git ...",
        "Locking the environment (uv lock) ...",
        "Putting data/raw/breast_cancer.csv under DVC (remote 'storage': "
        "../tumour-classifier-dvc-storage) ...",
        "Making the first commit ...",
        "Ready: cd tumour-classifier && make pipeline && make test",
    ]
    lines = done.stdout.splitlines()
    assert [line for line in lines if line in expected] == expected, done.stdout
    assert lines[-1] == expected[-1]
    project = tmp_path / "tumour-classifier"
    log = subprocess.run(["git", "log", "--oneline"], cwd=project, capture_output=True, text=True)
    assert len(log.stdout.splitlines()) == 1
    status = subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True,
                            text=True)  # fmt: skip
    assert status.stdout == ""
    dvc = post.locked_version(project, "dvc")
    assert dvc and (project / "data/raw/breast_cancer.csv.dvc").exists()

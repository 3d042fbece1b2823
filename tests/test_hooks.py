"""Unit tests of the hook functions, imported from the unrendered hook scripts."""

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import COMBINATIONS, ENV, TEMPLATE, load_hook
from cookiecutter.main import cookiecutter
from slugify import slugify

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
        ("groundwork", "dependency"),  # the runtime
        ("tests", "dependency"),
        ("My-Module", "not a valid package name"),
        ("1model", "not a valid package name"),
        ("m" * 64, "64 characters long"),
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


def test_the_suite_bakes_the_longest_names_the_hook_accepts():
    """Every combination is baked and linted (test_bake.py): one carries a project name whose
    slug, and a module name, are as long as the hook allows, so that no line of the
    generated code outgrows the linter's limit with them."""
    longest = COMBINATIONS["proprietary-azure"]
    slug = slugify(longest["project_name"])
    assert len(slug) == pre.MAX_SLUG_LENGTH and pre.check_slug(slug) == []
    module = longest["module_name"]
    assert len(module) == pre.MAX_MODULE_LENGTH and pre.check_module_name(module) == []
    # Their own names: the hook's default module name would hide a mix-up of the two.
    assert module != slug.replace("-", "_")


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


@pytest.mark.parametrize(
    ("remote", "expected"),
    [("local", "../tumour-classifier-dvc-storage"), ("s3", "s3://tumour-classifier-dvc"),
     ("gcs", "gs://tumour-classifier-dvc"), ("azure", "azure://tumour-classifier-dvc")],
)  # fmt: skip
def test_default_remote_urls(remote, expected):
    assert post.remote_url({**GOOD, "dvc_remote": remote}) == expected
    assert post.remote_url({**GOOD, "dvc_remote": remote, "dvc_remote_url": "x"}) == "x"


@pytest.mark.parametrize(
    ("remote", "scheme"), [("s3", "s3://"), ("gcs", "gs://"), ("azure", "azure://")]
)
def test_a_default_bucket_name_fits_the_cloud_for_the_longest_slug(remote, scheme):
    """Buckets and containers take 3 to 63 characters: `<slug>-dvc` of a 63-character slug
    would not fit, so its name is cut, never ending in a hyphen before `-dvc`."""
    slug = "credit-risks-of-small-business-loans-across-regions-and-sectors"
    assert len(slug) == pre.MAX_SLUG_LENGTH and pre.check_slug(slug) == []
    url = post.remote_url({**GOOD, "project_slug": slug, "dvc_remote": remote})
    bucket = url.removeprefix(scheme)
    assert url.startswith(scheme) and len(bucket) == 63 and bucket.endswith("-dvc")
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", bucket), bucket


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
    """A template checkout with two commits: the state names the last, as `git log` does."""
    template, project = tmp_path / "template", tmp_path / "project"
    project.mkdir()
    template.mkdir()
    identity = ["user.name=T", "user.email=t@example.com", "commit.gpgsign=false"]
    git = ["git", *(arg for setting in identity for arg in ("-c", setting))]
    subprocess.run([*git, "init", "--quiet"], cwd=template, check=True)
    for message in ("first", "second"):
        (template / "notes.md").write_text(message)
        subprocess.run([*git, "add", "notes.md"], cwd=template, check=True)
        subprocess.run(
            [*git, "commit", "--quiet", "--no-verify", "-m", message], cwd=template, check=True
        )
    log = subprocess.run(
        ["git", "log", "--format=%H %s"], cwd=template, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    last = log[0].split()
    assert last[1] == "second" and len(log) == 2

    answers = {**GOOD, "_template": str(template), "_repo_dir": str(template), "_checkout": None}
    post.write_cruft_state(project, answers)
    state = json.loads((project / ".cruft.json").read_text())
    assert state["template"] == str(template)
    assert state["commit"] == last[0]
    assert state["context"]["cookiecutter"]["_commit"] == last[0]
    assert state["context"]["cookiecutter"]["project_slug"] == "tumour-classifier"
    assert "_repo_dir" not in state["context"]["cookiecutter"]


def test_cruft_state_of_a_template_outside_git_has_no_commit(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # no repository above it
    template, project = tmp_path / "template", tmp_path / "project"
    template.mkdir()
    project.mkdir()
    post.write_cruft_state(project, {**GOOD, "_template": str(template), "_checkout": None})
    state = json.loads((project / ".cruft.json").read_text())
    assert state["template"] == str(template) and state["commit"] is None
    assert "_commit" not in state["context"]["cookiecutter"]


def test_abbreviated_template_is_expanded_for_cruft():
    template, commit = post.template_source({"_template": "gh:acme/groundwork"})
    assert template == "https://github.com/acme/groundwork.git"
    assert commit is None


def test_hooks_contain_no_jinja_logic():
    for name in ("pre_gen_project", "post_gen_project"):
        text = (TEMPLATE / "hooks" / f"{name}.py").read_text()
        assert "{%" not in text
        assert text.count("{{") == 1, "only the ANSWERS line is rendered"


class FakeCommands:
    """Stands in for `post.run`: records each command and fails the ones it is told to."""

    def __init__(self, fail=()):
        self.fail, self.calls = fail, []

    def __call__(self, cmd, cwd, env=None):
        self.calls.append(cmd)
        if any(fragment in " ".join(cmd) for fragment in self.fail):
            raise post.SetupError(f"'{cmd[0]}' failed")
        return ""


@pytest.fixture
def project(tmp_path):
    """A bare render of the defaults (no hooks), pruned as the hook prunes it."""
    cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(tmp_path), accept_hooks=False)
    project = tmp_path / "tumour-classifier"
    post.prune(project, GOOD["ci"], GOOD["task"])
    return project


def test_setup_locks_from_the_cache_and_says_each_step(project, monkeypatch):
    fake = FakeCommands()
    monkeypatch.setattr(post, "run", fake)
    said = []
    post.setup_repository(project, GOOD, say=said.append)
    assert ["uv", "lock", "--offline", "--quiet"] in fake.calls
    assert ["uv", "lock", "--quiet"] not in fake.calls
    assert fake.calls[-1][:2] == ["git", "commit"]
    assert [line.split()[0] for line in said] == ["Initialising", "Locking", "Putting", "Making"]


def test_setup_asks_the_index_only_when_the_cache_cannot_resolve(project, monkeypatch):
    fake = FakeCommands(fail=["lock --offline"])
    monkeypatch.setattr(post, "run", fake)
    said = []
    post.setup_repository(project, GOOD, say=said.append)
    assert ["uv", "lock", "--quiet"] in fake.calls
    assert any("asking the package index" in line for line in said)


# DVC's own commands for what `setup_dvc` writes: the oracle it must match.
DVC_SCRIPT = """
import json, sys
from dvc.cli import main
for argv in json.loads(sys.argv[1]):
    assert main(argv) == 0, argv
"""


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under `root` but git's and DVC's scratch: its mode and its bytes."""
    files = {path.relative_to(root).as_posix(): path for path in root.rglob("*")}
    return {
        rel: (path.stat().st_mode & 0o777, path.read_bytes())
        for rel, path in sorted(files.items())
        if path.is_file() and "/.git/" not in f"/{rel}" and "/.dvc/tmp/" not in f"/{rel}"
    }


@pytest.mark.parametrize(
    "answers",
    [GOOD, {**GOOD, "task": "regression"}, {**GOOD, "dvc_remote": "s3"},
     {**GOOD, "dvc_remote_url": "remote-store"}],
    ids=["local", "regression", "s3", "local-inside"],
)  # fmt: skip
def test_the_dvc_setup_is_what_dvc_itself_writes(tmp_path, answers):
    """The hook writes DVC's files itself (bake time); DVC's own `init`, `config`,
    `remote add`, `add` and `push`, run from the DVC the project requires, write the same."""
    trees = {}
    for who in ("hook", "dvc"):
        out = tmp_path / who
        cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(out), accept_hooks=False)
        project = out / "tumour-classifier"
        post.prune(project, answers["ci"], answers["task"])
        subprocess.run(["git", "init", "--quiet"], cwd=project, check=True)
        if who == "hook":
            post.setup_dvc(project, answers)
        else:
            # DVC as the project installs it: the runtime's pipeline extra pins it.
            pyproject = (TEMPLATE / "runtime/pyproject.toml").read_text()
            requirement = re.search(r'"dvc(?:\[\w]+\])?([<>=][^"]*)"', pyproject).group(1)
            commands = [
                ["init", "--quiet", "--force"],
                ["config", "core.analytics", "false"],
                ["config", "core.check_update", "false"],
                ["config", "hydra.enabled", "true"],
                ["remote", "add", "--default", post.REMOTE_NAME, post.remote_url(answers)],
                ["add", "--quiet", post.SAMPLE_DATA[answers["task"]]],
            ]
            if answers["dvc_remote"] == "local":
                commands.append(["push", "--quiet"])
            tool = ["uv", "tool", "run", "--from", f"dvc{requirement}", "python", "-c"]
            done = subprocess.run([*tool, DVC_SCRIPT, json.dumps(commands)], cwd=project,
                                  env={**ENV, "DVC_NO_ANALYTICS": "1"}, capture_output=True,
                                  text=True)  # fmt: skip
            assert done.returncode == 0, done.stderr
        trees[who] = snapshot(out)
    assert trees["hook"].keys() == trees["dvc"].keys()
    for path, (mode, content) in trees["dvc"].items():
        assert trees["hook"][path] == (mode, content), path
    stored = [path for path in trees["dvc"] if "/files/md5/" in path or "cache/" in path]
    assert len(stored) == (2 if answers["dvc_remote"] == "local" else 1), stored


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
    assert (project / "data/raw/breast_cancer.csv.dvc").exists()
    assert '\nname = "dvc"\n' in (project / "uv.lock").read_text()

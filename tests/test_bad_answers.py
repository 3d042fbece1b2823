"""Bad answers are refused before anything is written, with a message saying what to type."""

import os
import subprocess
from pathlib import Path

import pytest
from conftest import ENV, TEMPLATE
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter


def bake_into(output_dir: Path, context: dict) -> None:
    cookiecutter(str(TEMPLATE), no_input=True, extra_context=context, output_dir=str(output_dir))


BAD_ANSWERS = {
    "keyword module": ({"module_name": "class"}, "Python keyword"),
    "stdlib module": ({"module_name": "logging"}, "standard library"),
    "shadows test": ({"module_name": "test"}, "shadow"),
    "shadows pandas": ({"module_name": "pandas"}, "shadow a dependency"),
    "shadows dvc": ({"module_name": "dvc"}, "shadow a dependency"),
    "module with hyphen": ({"module_name": "my-model"}, "not a valid package name"),
    "module with capitals": ({"module_name": "MyModel"}, "not a valid package name"),
    "slug with space": ({"project_slug": "my project"}, "'my-project'"),
    "slug with underscore": ({"project_slug": "my_project"}, "'my-project'"),
    "slug starting with digit": ({"project_slug": "2fast"}, "not a valid distribution"),
    "slug too long": ({"project_slug": "a" * 64}, "64 characters long"),
    "empty name": ({"project_name": "  ", "project_slug": "x-project"}, "project_name is empty"),
    "email without at": ({"author_email": "ada.example.com"}, "not an email address"),
    "email without domain": ({"author_email": "ada@localhost"}, "not an email address"),
    "s3 remote with gcs url": (
        {"dvc_remote": "s3", "dvc_remote_url": "gs://bucket/dvc"},
        "must start with 's3://'",
    ),
    "local remote with cloud url": (
        {"dvc_remote": "local", "dvc_remote_url": "s3://bucket"},
        "cloud URL but dvc_remote is 'local'",
    ),
    "quote in description": ({"description": 'The "best" model'}, "double quote"),
}


# Cookiecutter itself refuses a value outside a choice list, before any hook runs;
# the pre-generation hook checks the same lists for answers that bypass it (replay, cruft).
BAD_CHOICES = {
    "python 3.10": {"python_version": "3.10"},
    "python 2": {"python_version": "2.7"},
    "unknown license": {"license": "GPL"},
    "unknown ci": {"ci": "jenkins"},
    "unknown task": {"task": "clustering"},
    "unknown remote": {"dvc_remote": "ftp"},
}


@pytest.mark.parametrize("context", list(BAD_CHOICES.values()), ids=list(BAD_CHOICES))
def test_value_outside_a_choice_list_is_refused(tmp_path, context):
    ((key, value),) = context.items()
    with pytest.raises(
        ValueError, match=f"{value} provided for choice variable {key}, but the choices"
    ):
        bake_into(tmp_path, context)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("answers", list(BAD_ANSWERS.values()), ids=list(BAD_ANSWERS))
def test_bad_answer_is_refused_and_nothing_is_written(tmp_path, capfd, answers):
    context, fragment = answers
    with pytest.raises(FailedHookException):
        bake_into(tmp_path, context)
    err = capfd.readouterr().err
    assert fragment in err
    assert "Nothing was generated" in err
    assert list(tmp_path.iterdir()) == []


def test_several_problems_are_reported_together(tmp_path, capfd):
    with pytest.raises(FailedHookException):
        bake_into(tmp_path, {"module_name": "json", "author_email": "nope"})
    err = capfd.readouterr().err
    assert "standard library" in err and "not an email address" in err


@pytest.mark.parametrize("tool", ["git", "uv"])
def test_missing_tool_is_named_before_anything_is_written(capfd, monkeypatch, tool, tmp_path):
    """PATH keeps python and the other tool but not the one under test."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in {"git", "uv"} - {tool}:
        for folder in os.environ["PATH"].split(os.pathsep):
            candidate = Path(folder) / name
            if candidate.exists():
                (bin_dir / name).symlink_to(candidate)
                break
    monkeypatch.setenv("PATH", str(bin_dir))
    output_dir = tmp_path / "out"
    with pytest.raises(FailedHookException):
        bake_into(output_dir, {})
    assert f"{tool} is not installed" in capfd.readouterr().err
    assert list(output_dir.iterdir()) == []


def refuse_on_the_command_line(output_dir: Path) -> subprocess.CompletedProcess:
    """The real `cookiecutter` command with a bad slug, its two streams in one, as a terminal
    shows them (the hook prints before cookiecutter reports the failure)."""
    return subprocess.run(
        ["cookiecutter", "--no-input", str(TEMPLATE), "-o", str(output_dir),
         "project_slug=Bad_Slug"],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
    )  # fmt: skip


def test_refusal_on_the_command_line_shows_the_errors_and_the_fix(tmp_path):
    done = refuse_on_the_command_line(tmp_path)
    assert done.returncode == 1
    assert "ERROR: project_slug 'Bad_Slug' is not a valid" in done.stdout
    assert "e.g. 'bad-slug'" in done.stdout
    assert "Nothing was generated. Run cookiecutter again with corrected answers." in done.stdout
    assert "Rendering" not in done.stdout
    assert list(tmp_path.iterdir()) == []


# cookiecutter 2.7 logs a failed hook with its traceback (`logger.exception` in
# hooks.run_hook_from_repo_dir); local_extensions.QuietHookFailure drops that traceback.
def test_refusal_on_the_command_line_ends_without_a_traceback(tmp_path):
    output = refuse_on_the_command_line(tmp_path).stdout
    assert "Traceback" not in output
    tail = output[output.index("Nothing was generated") :]
    assert "Traceback" not in tail and "FailedHookException" not in tail

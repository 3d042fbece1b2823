"""`platform-changes`: the changelog's sections between two runtime versions."""

import pytest

import groundwork
from groundwork.changelog import changes_since, entries_between, installed_changelog
from groundwork.cli import main
from groundwork.errors import UserFacingError

CHANGELOG = """\
# Changelog

Intro text that is no release.

## 0.10.0 - 2027-03-01

### Changed
- The gate refuses a slower candidate.

## 0.9.1 - 2027-02-01

### Fixed
- A gzip log is read.

## 0.9.0 - 2027-01-01

### Added
- Spark scoring.
"""


def test_the_sections_after_one_version_up_to_another_newest_first():
    entries = entries_between(CHANGELOG, "0.9.0", "0.10.0")
    assert [entry.splitlines()[0] for entry in entries] == [
        "## 0.10.0 - 2027-03-01",
        "## 0.9.1 - 2027-02-01",
    ]
    assert "slower candidate" in entries[0] and "Spark" not in "".join(entries)
    # As numbers: 0.10 is newer than 0.9, though "0.10" sorts before "0.9" as text.
    assert entries_between(CHANGELOG, "0.9.1", "0.10.0")[0].startswith("## 0.10.0")


def test_an_upgrade_is_told_with_its_entries_and_no_upgrade_says_so():
    told = changes_since("0.9.0", "0.10.0", CHANGELOG)
    assert told.startswith("groundwork-runtime 0.9.0 -> 0.10.0\n\n## 0.10.0")
    assert "A gzip log is read." in told
    same = changes_since("0.10.0", "0.10.0", CHANGELOG)
    assert same == "groundwork-runtime 0.10.0: already the newest compatible version."


def test_a_version_that_is_not_one_is_refused_with_an_example():
    with pytest.raises(UserFacingError, match=r"'latest' is not a runtime version: give one like"):
        changes_since("latest", "0.10.0", CHANGELOG)


def test_the_installed_changelog_opens_with_the_installed_version(capsys):
    first = entries_between(installed_changelog(), "0.0.0", groundwork.__version__)[0]
    assert first.startswith(f"## {groundwork.__version__} ")
    assert main(["platform-changes", "--since", "0.0.0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"groundwork-runtime 0.0.0 -> {groundwork.__version__}\n\n## ")

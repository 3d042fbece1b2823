"""What changed in the runtime between two of its versions: the sections of its
CHANGELOG.md, which the wheel carries, so that `make upgrade-platform` shows a project what
an upgrade brought without a trip to the repository."""

import re
from importlib import resources
from pathlib import Path

from .errors import UserFacingError

# A release's heading: `## 1.2.3 - 2026-12-07` (or `## [1.2.3]`).
HEADING = re.compile(r"^## \[?(\d+\.\d+\.\d+)\]?")


def version_key(version: str) -> tuple[int, ...]:
    """`1.10.0` as (1, 10, 0): versions order as numbers, not as text."""
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise UserFacingError(
            f"{version!r} is not a runtime version: give one like 0.1.0 (`uv run python -c "
            "'import groundwork; print(groundwork.__version__)'` prints the installed one)."
        )
    return tuple(int(part) for part in version.split("."))


def entries_between(changelog: str, after: str, upto: str) -> list[str]:
    """The changelog's sections for the versions above `after` and up to `upto`, as the
    changelog orders them (newest first)."""
    low, high = version_key(after), version_key(upto)
    sections = re.split(r"(?m)^(?=## )", changelog)
    return [
        section.strip()
        for section in sections
        if (heading := HEADING.match(section)) and low < version_key(heading.group(1)) <= high
    ]


def installed_changelog() -> str:
    """The CHANGELOG.md of the installed runtime: in the wheel, beside the package; in an
    editable install of the runtime's own checkout, at the checkout's root."""
    packaged = resources.files("groundwork").joinpath("CHANGELOG.md")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parents[2] / "CHANGELOG.md").read_text(encoding="utf-8")


def changes_since(before: str, installed: str, changelog: str) -> str:
    """What to tell a person who moved from runtime `before` to `installed`."""
    if version_key(installed) == version_key(before):
        return f"groundwork-runtime {installed}: already the newest compatible version."
    entries = entries_between(changelog, before, installed)
    return "\n\n".join([f"groundwork-runtime {before} -> {installed}", *entries])

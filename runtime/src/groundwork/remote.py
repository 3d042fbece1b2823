"""The DVC remote: fetch and push with errors that name what is missing and the way out.

DVC's own messages ("Checkout failed ... Is your cache up to date?") name neither the
remote nor the remedy. A local remote is a folder, by default beside the project's first
copy, so a clone placed elsewhere finds none: that case is told apart from files that
nobody pushed.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

from . import COMMAND
from .errors import UserFacingError

OFFLINE_HINT = f"`uv run {COMMAND} sample-data` writes the sample data set offline"


class RemoteError(UserFacingError):
    """The DVC remote is missing, unreachable, or lacks files that git points to."""


@contextmanager
def _on_default_remote(action: str):
    """The repository, and the default remote's name and URL; DVC's errors become ours."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    with Repo(".") as repo:
        name, url = _default_remote(repo)
        try:
            yield repo, name, url
        except DvcException as exc:
            raise RemoteError(f"`uv run dvc {action}` with '{name}' ({url}) failed: {exc}") from exc


def _default_remote(repo) -> tuple[str, str]:
    """The default remote's name and URL, refusing a local one that does not exist."""
    name = repo.config["core"].get("remote")
    if not name:
        raise RemoteError(
            "no default DVC remote is configured: add one with "
            "`uv run dvc remote add --default storage URL`."
        )
    remote = repo.cloud.get_remote(name)
    url = repo.config["remote"][name]["url"]
    if remote.fs.protocol == "local" and not Path(remote.path).is_dir():
        raise RemoteError(
            f"the DVC remote '{name}' is the folder {remote.path}, which does not exist. "
            "A local remote is a folder beside the project's first copy, so a clone placed "
            "elsewhere does not find it. Either point this clone at the real one:\n"
            f"  uv run dvc remote modify --local {name} url /path/to/{Path(url).name}\n"
            f"or, without the remote, {OFFLINE_HINT} (sample data only)."
        )
    return name, url


def pull(targets: Sequence[str]) -> None:
    """Fetch and check out the targets' files; name every file the remote lacks."""
    from dvc.exceptions import CheckoutError

    with _on_default_remote("pull") as (repo, name, url):
        try:
            repo.pull(targets=list(targets))
        except CheckoutError as exc:
            missing = "\n".join(f"  {path}" for path in exc.result.get("failed", []))
            raise RemoteError(
                f"these files are not in the DVC remote '{name}' ({url}):\n{missing}\n"
                "Whoever produced them has not pushed them: ask them to run "
                "`uv run dvc push` in their copy (a promotion pushes its model itself)."
                f" For the raw data, {OFFLINE_HINT} (sample data only)."
            ) from exc


def push(targets: Sequence[str]) -> None:
    """Push the targets' files to the default remote."""
    with _on_default_remote("push") as (repo, _name, _url):
        repo.push(targets=list(targets))

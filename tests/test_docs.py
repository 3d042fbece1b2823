"""The documentation site builds in strict mode, and strict mode catches what rots."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parents[1]
DOCS = TEMPLATE / "docs"


def build(root: Path, site_dir: Path) -> subprocess.CompletedProcess:
    """`mkdocs build --strict` of the site rooted at `root` (mkdocs.yml and docs/)."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )


def nav_pages() -> list[str]:
    """Every page the nav of mkdocs.yml lists (its `- Title: page.md` lines)."""
    text = (TEMPLATE / "mkdocs.yml").read_text()
    return re.findall(r"^\s*- [^:\n]+: (\S+\.md)\s*$", text, flags=re.MULTILINE)


def test_site_builds_strict_with_every_page(tmp_path):
    done = build(TEMPLATE, tmp_path / "site")
    assert done.returncode == 0, done.stderr
    pages = nav_pages()
    assert "index.md" in pages and len(pages) >= 5
    on_disk = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert sorted(pages) == on_disk, "every page is in the nav, and the nav names only pages"
    for page in pages:
        html = Path(page[: -len(".md")]) / "index.html" if page != "index.md" else "index.html"
        assert (tmp_path / "site" / html).exists(), page


def break_copy(tmp_path: Path, breakage: str) -> tuple[Path, str]:
    """A copy of the site with one kind of damage, and the name the refusal must mention."""
    root = tmp_path / "copy"
    shutil.copytree(DOCS, root / "docs")
    shutil.copy(TEMPLATE / "mkdocs.yml", root / "mkdocs.yml")
    docs = root / "docs"
    if breakage == "link to a missing page":
        with (docs / "index.md").open("a") as page:
            page.write("\nSee [the missing page](no-such-page.md).\n")
        culprit = "no-such-page.md"
    elif breakage == "link to a missing anchor":
        with (docs / "index.md").open("a") as page:
            page.write("\nSee [a missing section](options.md#no-such-section).\n")
        culprit = "no-such-section"
    elif breakage == "nav entry without its page":
        culprit = nav_pages()[-1]
        (docs / culprit).unlink()
    elif breakage == "page left out of the nav":
        (docs / "orphan.md").write_text("# Orphan\n")
        culprit = "orphan.md"
    else:
        raise ValueError(breakage)
    return root, culprit


@pytest.mark.parametrize(
    "breakage",
    [
        "link to a missing page",
        "link to a missing anchor",
        "nav entry without its page",
        "page left out of the nav",
    ],
)
def test_strict_build_refuses_broken_docs(tmp_path, breakage):
    root, culprit = break_copy(tmp_path, breakage)
    done = build(root, tmp_path / "site")
    output = done.stdout + done.stderr
    assert done.returncode != 0, f"{breakage} was not caught"
    assert "strict mode" in output
    assert culprit in output, f"the refusal does not name {culprit}"


def test_option_reference_covers_every_question():
    """options.md has a section per cookiecutter.json key, listing each allowed value."""
    questions = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    reference = (DOCS / "options.md").read_text()
    for key, default in questions.items():
        if key.startswith("_"):
            continue
        assert f"\n## `{key}`\n" in reference, f"options.md has no section for {key}"
        if isinstance(default, list):
            row = next(line for line in reference.splitlines() if line.startswith(f"| [`{key}`]"))
            for value in default:
                assert f"`{value}`" in row, f"options.md does not list {key}={value}"


def code_text(markdown: str) -> str:
    """The fenced code blocks and inline code spans of a Markdown page."""
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", markdown, flags=re.MULTILINE | re.DOTALL)
    no_fences = re.sub(r"^```.*?^```", "", markdown, flags=re.MULTILINE | re.DOTALL)
    return "\n".join(fenced + re.findall(r"`([^`\n]+)`", no_fences))


def test_every_make_target_the_docs_name_exists():
    """`make X` in the docs' code must be a target of the generated project's Makefile."""
    makefile = (TEMPLATE / "{{cookiecutter.project_slug}}" / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, flags=re.MULTILINE))
    named = set()
    for page in DOCS.rglob("*.md"):
        for words in re.findall(r"\bmake((?: [a-z][a-z0-9-]*)+)", code_text(page.read_text())):
            named.update(words.split())
    assert {"pipeline", "test"} <= named
    assert named <= targets, f"the docs name make targets that do not exist: {named - targets}"

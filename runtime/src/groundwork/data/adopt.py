"""`adopt-data`: put a user's file under DVC and infer the data config from it.

`infer_spec` is pure: it reads a DataFrame and returns the spec with a note per column
saying what was inferred and why. `adopt` does the I/O, and checks everything before
it writes anything, so a refusal leaves the project as it was; a step that fails later
(a full disk, a broken DVC) puts back every file the steps before it wrote.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import structlog
import yaml

from ..artifacts import atomic_path
from ..errors import UserFacingError
from .load import READERS, read_table
from .pii import SAMPLE_VALUES, Verdict, pii_verdict
from .spec import MAX_CLASSES, TASKS, Column, DataSpec, Target, spec_to_config

CONF_DATA = Path("conf/data")
CONFIG_FILE = Path("conf/config.yaml")
RAW_DIR = Path("data/raw")
MAX_CATEGORIES = 50
# Ranges are widened by this share of the observed span, so that new data slightly
# outside what was seen is accepted while a unit error or a corrupt value is not.
RANGE_MARGIN = 0.1
ID_NAME = re.compile(r"(^|_)(id|uuid|key)$|Id$|ID$")
AS_IT_WAS = (
    "Nothing is adopted and the project is as it was: fix the cause and run adopt-data again."
)
DEFAULT_DATA = re.compile(r"^(\s*-\s*data:\s*)(\S+)\s*$", re.MULTILINE)


class AdoptionRefused(UserFacingError):
    """The file cannot be adopted as it is; the message says why and what to do."""


@dataclass(frozen=True)
class Adoption:
    spec: DataSpec
    notes: dict[str, str]


def _round_out(value: float, step: float, up: bool) -> float:
    rounded = (math.ceil if up else math.floor)(value / step) * step
    return float(f"{rounded:.12g}")


def numeric_range(low: float, high: float) -> tuple[float, float]:
    """The observed range widened by RANGE_MARGIN and rounded outwards; never below 0
    for data that has no negative value."""
    span = high - low or abs(high) or 1.0
    margin = span * RANGE_MARGIN
    step = 10 ** math.floor(math.log10(margin))
    wide_low, wide_high = low - margin, high + margin
    if low >= 0:
        wide_low = max(wide_low, 0.0)
    return _round_out(wide_low, step, up=False), _round_out(wide_high, step, up=True)


def _plain(value):
    """numpy scalars to Python ones, so the YAML stays plain."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _target(df: pd.DataFrame, target: str, task: str) -> Target:
    if target not in df.columns:
        raise AdoptionRefused(
            f"target column {target!r} is not in the file; its columns are {list(df.columns)}."
        )
    values = df[target]
    missing = int(values.isna().sum())
    if missing:
        raise AdoptionRefused(
            f"target column {target!r} is empty in {missing} row(s): drop or label those rows."
        )
    distinct = values.nunique()
    if distinct < 2:
        raise AdoptionRefused(
            f"target column {target!r} has a single value ({values.iloc[0]!r}): "
            "there is nothing to predict."
        )
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            raise AdoptionRefused(
                f"target column {target!r} is not numeric ({values.dtype}), so it cannot be a "
                "regression target: pass --task classification, or convert it to numbers."
            )
        return Target(target)
    if distinct > MAX_CLASSES:
        raise AdoptionRefused(
            f"target column {target!r} has {distinct} distinct values, more than {MAX_CLASSES} "
            "classes: pass --task regression if it is a quantity to predict."
        )
    classes = sorted(_plain(v) for v in values.unique())
    if not all(isinstance(c, int | bool) for c in classes):
        classes = sorted(str(c) for c in classes)
    return Target(target, classes=tuple(classes))


def _pii(name: str, present: pd.Series) -> Verdict:
    """Whether the column is personal data, from a sample of its values, or from its name
    when how often each value occurs confirms it."""
    counts = present.value_counts().tolist()
    if pd.api.types.is_float_dtype(present) or pd.api.types.is_bool_dtype(present):
        return pii_verdict(name, [], counts)  # no kind of personal data is a fraction or a flag
    if len(present) > SAMPLE_VALUES:
        present = present.sample(SAMPLE_VALUES, random_state=0)
    return pii_verdict(name, present.astype(str), counts)


def _row_number(values: pd.Series) -> bool:
    """Distinct consecutive integers in every row, in any order: the row numbers R and
    `pandas.to_csv` write, whatever the column is called."""
    if not pd.api.types.is_integer_dtype(values) or values.isna().any() or len(values) < 2:
        return False
    return values.is_unique and int(values.max()) - int(values.min()) + 1 == len(values)


def _column(name: str, values: pd.Series, rows: int, is_id: bool) -> tuple[Column, str]:
    present = values.dropna()
    verdict = _pii(name, present)
    if verdict.pii:
        # No example and no values: the config must hold no raw value of it.
        return Column(name, "identifier", pii=True), f"pii: {verdict.why}; not a feature"
    column, note = _role(name, values, present, rows, is_id)
    # A name that suggested personal data: say why the values cleared it.
    return column, (f"{note}; not pii: {verdict.why}" if verdict.why else note)


def _role(
    name: str, values: pd.Series, present: pd.Series, rows: int, is_id: bool
) -> tuple[Column, str]:
    missing = rows - len(present)
    nullable = missing > 0
    gaps = f", {missing} missing" if missing else ""
    if is_id:
        return Column(name, "identifier"), "identifier (--id)"
    if present.empty:
        return Column(name, "ignored"), "ignored: every value is missing"
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        if pd.api.types.is_integer_dtype(values) and ID_NAME.search(name) and present.is_unique:
            return Column(name, "identifier"), "identifier: an id-like name, every value distinct"
        low, high = float(present.min()), float(present.max())
        if _row_number(values):  # else the model learns the row order, and the API asks for it
            return Column(name, "identifier"), (
                f"identifier: {rows} distinct consecutive integers ({low:.0f} to {high:.0f}), "
                "a row number: not learned from (set its role to numeric if it is a quantity)"
            )
        wide_low, wide_high = numeric_range(low, high)
        column = Column(
            name,
            "numeric",
            nullable=nullable,
            min=wide_low,
            max=wide_high,
            example=_plain(round(float(present.median()), 6)),
        )
        return (
            column,
            f"numeric: seen {low:g} to {high:g}, allowed {wide_low:g} to {wide_high:g}{gaps}",
        )
    if not (
        pd.api.types.is_object_dtype(values)
        or pd.api.types.is_string_dtype(values)
        or pd.api.types.is_bool_dtype(values)
        or isinstance(values.dtype, pd.CategoricalDtype)
    ):
        return Column(name, "ignored"), f"ignored: type {values.dtype} is neither number nor text"
    text = present.astype(str)
    distinct = text.nunique()
    if distinct > MAX_CATEGORIES:
        if distinct == len(text):
            return Column(name, "identifier"), "identifier: every value distinct"
        return Column(name, "ignored"), (
            f"ignored: {distinct} distinct values, too many for a category "
            f"(at most {MAX_CATEGORIES}); declare it by hand if it matters"
        )
    counts = text.value_counts()
    column = Column(
        name,
        "categorical",
        nullable=nullable,
        values=tuple(sorted(counts.index)),
        example=str(counts.index[0]),
    )
    return column, f"categorical: {distinct} values{gaps}"


def infer_spec(df: pd.DataFrame, target: str, task: str, ids: tuple[str, ...] = ()) -> Adoption:
    """The data spec for `df`: the target's classes, and each column's role and rules."""
    if task not in TASKS:
        raise AdoptionRefused(f"--task {task!r}: use one of {', '.join(TASKS)}.")
    unknown = [name for name in ids if name not in df.columns]
    if unknown:
        raise AdoptionRefused(f"--id names columns that are not in the file: {unknown}.")
    spec_target = _target(df, target, task)
    columns, notes = [], {}
    for name in df.columns:
        if name == target:
            continue
        column, note = _column(str(name), df[name], len(df), name in ids)
        columns.append(column)
        notes[column.name] = note
    spec = DataSpec(task=task, target=spec_target, columns=tuple(columns))
    if not spec.features:
        raise AdoptionRefused(
            "no column can be a feature: every column was inferred as an identifier or ignored."
        )
    return Adoption(spec, notes)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tracked_elsewhere(source: Path, destination: Path) -> Path | None:
    """The raw file DVC already tracks with the same content under another name, if any."""
    md5, size = None, source.stat().st_size
    for pointer in sorted(RAW_DIR.glob("*.dvc")):
        tracked = pointer.with_suffix("")
        if tracked.resolve() == destination.resolve():
            continue
        out = ((yaml.safe_load(pointer.read_text()) or {}).get("outs") or [{}])[0]
        if out.get("size", size) != size:  # a different size: no need to hash
            continue
        md5 = md5 or _md5(source)
        if out.get("md5") == md5:
            return tracked
    return None


def config_text(base: Mapping, spec: DataSpec, raw_path: Path, source: Path) -> str:
    data = {
        "raw_path": str(raw_path),
        **{k: base[k] for k in ("validated_path", "train_path", "test_path", "test_size")},
        **spec_to_config(spec),
    }
    header = (
        f"# Inferred by `adopt-data` from {source.name}: review it. Each column's role is\n"
        "# numeric (min, max), categorical (values), identifier (kept, not learned from) or\n"
        "# ignored; nullable says whether a value may be missing; pii: true marks personal\n"
        "# data, never learned from nor written raw. The schemas, the model's\n"
        "# preprocessing, the API and the tests all follow this file.\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def adopt(
    source: Path | str,
    target: str,
    task: str,
    ids: tuple[str, ...] = (),
    name: str | None = None,
    base: Mapping | None = None,
) -> tuple[Path, Adoption]:
    """Copy `source` into data/raw, track it with DVC, write conf/data/<name>.yaml and make
    it the default; return the config path and what was inferred. `base` is the data config
    in use (composed from conf/ when not given): its output paths are kept."""
    source = Path(source)
    if source.suffix.lower() not in READERS:
        raise AdoptionRefused(
            f"{source}: unknown file type {source.suffix!r}; use .csv or .parquet."
        )
    if not source.is_file():
        raise AdoptionRefused(f"{source} not found: give the path of a CSV or Parquet file.")
    name = name or re.sub(r"[^a-z0-9]+", "_", source.stem.lower()).strip("_") or "data"
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise AdoptionRefused(f"--name {name!r}: use lowercase letters, digits and underscores.")
    config_path = CONF_DATA / f"{name}.yaml"
    raw_path = RAW_DIR / f"{name}{source.suffix.lower()}"
    if config_path.exists():
        raise AdoptionRefused(f"{config_path} exists already: pass --name with another name.")
    config = CONFIG_FILE.read_text()
    if not DEFAULT_DATA.search(config):
        raise AdoptionRefused(f"{CONFIG_FILE} has no `- data: NAME` line in its defaults.")
    same_file = raw_path.exists() and raw_path.resolve() == source.resolve()
    if raw_path.exists() and not same_file:
        raise AdoptionRefused(f"{raw_path} exists already: pass --name with another name.")
    elsewhere = _tracked_elsewhere(source, raw_path)
    if elsewhere is not None:
        raise AdoptionRefused(
            f"{source} is already tracked as {elsewhere}: adopt that file, or change one of them."
        )
    adoption = infer_spec(read_table(source), target, task, ids)

    from ..config import PARAMS_FILE, compose_config, write_params

    base = compose_config().data if base is None else base
    text = config_text(base, adoption.spec, raw_path, source)
    undo = Undo()
    step = ""
    try:
        if not same_file:
            step = f"copying {source} to {raw_path}"
            undo.keep(raw_path)
            with atomic_path(raw_path) as partial:
                shutil.copyfile(source, partial)
        step = f"`uv run dvc add {raw_path}`"
        # What `dvc add` writes beside the file: its pointer and the ignore line.
        undo.keep(raw_path.with_name(f"{raw_path.name}.dvc"), raw_path.parent / ".gitignore")
        _dvc_add(raw_path)
        step = f"writing {config_path}"
        undo.write(config_path, text)
        step = f"making {name} the default in {CONFIG_FILE}"
        undo.write(CONFIG_FILE, DEFAULT_DATA.sub(rf"\g<1>{name}", config, count=1))
        step = f"writing {PARAMS_FILE}"
        undo.keep(PARAMS_FILE)
        write_params(compose_config())
    except BaseException as exc:
        undo.restore()
        if isinstance(exc, OSError):  # a full disk, a read-only folder: say which step
            raise AdoptionRefused(f"{step} failed: {exc}. {AS_IT_WAS}") from exc
        if isinstance(exc, AdoptionRefused):
            raise AdoptionRefused(f"{exc} {AS_IT_WAS}") from exc
        raise
    structlog.get_logger(__name__).info("data adopted", path=str(raw_path), config=str(config_path))
    return config_path, adoption


class Undo:
    """The files a multi-step change writes, as they were before it: `restore` puts back
    their bytes, removes those that were new and the folders made for them."""

    def __init__(self) -> None:
        self.kept: dict[Path, bytes | None] = {}
        self.made: list[Path] = []

    def keep(self, *paths: Path) -> None:
        for path in paths:
            if path in self.kept:
                continue
            self.kept[path] = path.read_bytes() if path.exists() else None
            missing = [folder for folder in path.parents if not folder.exists()]
            self.made += [folder for folder in reversed(missing) if folder not in self.made]

    def write(self, path: Path, text: str) -> None:
        """Replace `path` whole (a write that fails leaves the old file, never half of one)."""
        self.keep(path)
        with atomic_path(path) as tmp:
            tmp.write_text(text)

    def restore(self) -> None:
        for path, content in reversed(self.kept.items()):
            try:
                if content is None:
                    path.unlink(missing_ok=True)
                elif not path.exists() or path.read_bytes() != content:
                    with atomic_path(path) as tmp:
                        tmp.write_bytes(content)
            except OSError as exc:  # go on: put back all that can be
                structlog.get_logger(__name__).error(
                    "could not restore", path=str(path), error=str(exc)
                )
        for folder in reversed(self.made):
            with contextlib.suppress(OSError):  # not empty: something else is in it
                folder.rmdir()


def _dvc_add(path: Path) -> None:
    from dvc.repo import Repo

    try:
        with Repo(".") as repo:
            repo.scm_context.quiet = True
            # Nothing staged: a later step that fails must be able to leave git as it was.
            repo.scm_context.autostage = False
            repo.add(str(path))
    except Exception as exc:  # DVC raises many types; each means the file is not tracked
        raise AdoptionRefused(f"`uv run dvc add {path}` failed: {exc}") from exc

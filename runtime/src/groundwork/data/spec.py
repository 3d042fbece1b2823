"""Column roles and rules, read from the data config (conf/data/<name>.yaml).

This is the one description of the data: the pandera schemas, the model's
preprocessing, the API's request and response models and the tests' fixtures are
all derived from it. Plain data and pure functions: no files, no pandas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserFacingError

TASKS = ("classification", "regression")
FEATURE_ROLES = ("numeric", "categorical")
# Identifiers are kept with the data (and passed through batch scoring) but never learned
# from; ignored columns are kept in the raw file only.
ROLES = (*FEATURE_ROLES, "identifier", "ignored")
MAX_CLASSES = 50


class SpecError(UserFacingError):
    """The data config is malformed; the message names the key and the fix."""


@dataclass(frozen=True)
class Column:
    name: str
    role: str
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] = ()
    description: str = ""
    example: Any = None
    # Personal data: never written raw (see data/pii.py); a feature only with pii_feature.
    pii: bool = False
    pii_feature: bool = False
    # Derived: computed by the project's `derive` (src/<package>/features.py) from the raw
    # columns in `inputs` (`from:` in the config), not read from the data or a request.
    derived: bool = False
    inputs: tuple[str, ...] = ()

    @property
    def is_feature(self) -> bool:
        return self.role in FEATURE_ROLES

    @property
    def example_value(self) -> Any:
        """The documented example, else a valid value derived from the rules."""
        if self.example is not None:
            return self.example
        if self.role == "categorical":
            return self.values[0]
        if self.min is not None and self.max is not None:
            return (self.min + self.max) / 2
        return self.min if self.min is not None else (self.max if self.max is not None else 0.0)


@dataclass(frozen=True)
class Target:
    name: str
    description: str = ""
    classes: tuple = ()


@dataclass(frozen=True)
class DataSpec:
    task: str
    target: Target
    columns: tuple[Column, ...] = field(default_factory=tuple)

    @property
    def features(self) -> list[Column]:
        return [column for column in self.columns if column.is_feature]

    @property
    def feature_names(self) -> list[str]:
        """The model's inputs: the raw features, then the derived ones."""
        return [column.name for column in self.features]

    @property
    def raw_features(self) -> list[Column]:
        """The features read from the data (or a request) as they are."""
        return [column for column in self.features if not column.derived]

    @property
    def derived(self) -> list[Column]:
        """The features the project's `derive` computes from raw columns."""
        return [column for column in self.features if column.derived]

    @property
    def derive_inputs(self) -> list[str]:
        """The raw columns `derive` reads, in the order the config first names them."""
        return list(dict.fromkeys(name for column in self.derived for name in column.inputs))

    @property
    def inputs(self) -> list[str]:
        """What a row to score carries: the raw features, and the columns `derive` reads."""
        raw = [column.name for column in self.raw_features]
        return raw + [name for name in self.derive_inputs if name not in raw]

    @property
    def numeric(self) -> list[str]:
        return [column.name for column in self.columns if column.role == "numeric"]

    @property
    def categorical(self) -> list[str]:
        return [column.name for column in self.columns if column.role == "categorical"]

    @property
    def identifiers(self) -> list[str]:
        """The identifier columns: passed through with a record, never learned from."""
        return [column.name for column in self.columns if column.role == "identifier"]

    @property
    def ignored(self) -> list[str]:
        """The ignored columns: declared, so a record may hold them, but never used."""
        return [column.name for column in self.columns if column.role == "ignored"]

    @property
    def pii(self) -> frozenset[str]:
        return frozenset(column.name for column in self.columns if column.pii)

    @property
    def is_classification(self) -> bool:
        return self.task == "classification"

    def column(self, name: str) -> Column:
        return next(column for column in self.columns if column.name == name)


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{where} must be a number, not {value!r}.")
    return float(value)


def _column(name: str, rules: Mapping, where: str) -> Column:
    if not isinstance(rules, Mapping):
        raise SpecError(f"{where} must be a mapping with at least `role:`, not {rules!r}.")
    role = rules.get("role")
    if role not in ROLES:
        raise SpecError(f"{where}.role is {role!r}: use one of {', '.join(ROLES)}.")
    known = {"role", "nullable", "min", "max", "values", "description", "example", "pii"}
    unknown = set(rules) - known - {"pii_feature", "derived", "from"}
    if unknown:
        raise SpecError(f"{where} has unknown keys {sorted(unknown)}.")
    pii, pii_feature = _pii(rules, role, where)
    derived, inputs = _derivation(rules, role, pii, where)
    values = tuple(str(value) for value in rules.get("values") or ())
    if role == "categorical" and not values:
        raise SpecError(f"{where} is categorical but lists no `values:`; list the allowed values.")
    low, high = _number(rules.get("min"), f"{where}.min"), _number(rules.get("max"), f"{where}.max")
    if low is not None and high is not None and low > high:
        raise SpecError(f"{where}: min {low} is above max {high}.")
    return Column(
        name=str(name),
        role=role,
        nullable=bool(rules.get("nullable", False)),
        min=low,
        max=high,
        values=values,
        description=str(rules.get("description") or ""),
        example=rules.get("example"),
        pii=pii,
        pii_feature=pii_feature,
        derived=derived,
        inputs=inputs,
    )


def _derivation(rules: Mapping, role: str, pii: bool, where: str) -> tuple[bool, tuple[str, ...]]:
    derived, inputs = rules.get("derived", False), rules.get("from")
    if not isinstance(derived, bool):
        raise SpecError(f"{where}.derived must be true or false, not {derived!r}.")
    if not derived:
        if inputs is not None:
            raise SpecError(f"{where} has `from:` but not `derived: true`: add it, or drop `from`.")
        return False, ()
    if role not in FEATURE_ROLES or pii:
        raise SpecError(
            f"{where} is derived: its role must be numeric or categorical, and it is not "
            "personal data (no `pii:`)."
        )
    if not isinstance(inputs, list) or not inputs or not all(isinstance(n, str) for n in inputs):
        raise SpecError(
            f"{where} is derived but its `from:` is {inputs!r}: list the raw columns that "
            "`derive` in src/<package>/features.py reads to compute it, e.g. `from: [a, b]`."
        )
    return True, tuple(inputs)


def _check_inputs(spec: DataSpec, source: str) -> None:
    """Each derived column is computed from declared raw columns that a request can carry."""
    raw = {column.name: column for column in spec.columns if not column.derived}
    for column in spec.derived:
        for name in column.inputs:
            where = f"{source}: columns.{column.name}.from"
            if name not in raw:
                hint = (
                    "the target is not known when scoring"
                    if name == spec.target.name
                    else (
                        "derived columns are computed from raw ones only"
                        if name in spec.feature_names
                        else "declare it in `columns:`"
                    )
                )
                raise SpecError(f"{where} names {name!r}, which is not a raw column: {hint}.")
            if raw[name].pii:
                raise SpecError(
                    f"{where} names {name!r}, personal data (pii: true): a derived feature "
                    "is logged and monitored, so it is not computed from personal data."
                )


def _pii(rules: Mapping, role: str, where: str) -> tuple[bool, bool]:
    pii, pii_feature = rules.get("pii", False), rules.get("pii_feature", False)
    for key, value in (("pii", pii), ("pii_feature", pii_feature)):
        if not isinstance(value, bool):
            raise SpecError(f"{where}.{key} must be true or false, not {value!r}.")
    if pii_feature and not (pii and role in FEATURE_ROLES):
        raise SpecError(
            f"{where}.pii_feature is for a numeric or categorical column with `pii: true`; "
            "remove it, or set both."
        )
    if pii and role in FEATURE_ROLES and not pii_feature:
        raise SpecError(
            f"{where} is personal data (pii: true) with role {role}: a pii column is not "
            "learned from unless you say so. Use role: identifier (or ignored), or add "
            "`pii_feature: true` to learn from it (its values stay out of the logs)."
        )
    if pii and rules.get("example") is not None:
        raise SpecError(
            f"{where} is personal data (pii: true) and has an `example:`: remove it, so "
            "that no raw value of it is kept in the config or the model package."
        )
    return pii, pii_feature


def spec_from_config(data: Mapping, source: str = "conf/data") -> DataSpec:
    """Read the `data` section of the config (task, target, columns) into a DataSpec."""
    task = data.get("task")
    if task not in TASKS:
        raise SpecError(f"{source}: task is {task!r}: use one of {', '.join(TASKS)}.")
    target = data.get("target")
    if not isinstance(target, Mapping) or not target.get("name"):
        raise SpecError(f"{source}: `target:` needs a `name:`, the column to predict.")
    classes = tuple(target.get("classes") or ())
    if task == "classification" and len(classes) < 2:
        raise SpecError(f"{source}: target.classes must list at least two classes.")
    columns = data.get("columns")
    if not isinstance(columns, Mapping) or not columns:
        raise SpecError(f"{source}: `columns:` lists no column; run `adopt-data` to infer them.")
    spec = DataSpec(
        task=task,
        target=Target(str(target["name"]), str(target.get("description") or ""), classes),
        columns=tuple(
            _column(name, rules, f"{source}: columns.{name}") for name, rules in columns.items()
        ),
    )
    if spec.target.name in {column.name for column in spec.columns}:
        raise SpecError(f"{source}: the target {spec.target.name!r} is also listed in columns.")
    if not spec.features:
        raise SpecError(f"{source}: no column is numeric or categorical, so nothing to learn from.")
    _check_inputs(spec, source)
    return spec


def spec_to_config(spec: DataSpec) -> dict:
    """The task, target and columns of a data config, as `spec_from_config` reads them."""
    target: dict[str, Any] = {"name": spec.target.name}
    if spec.target.description:
        target["description"] = spec.target.description
    if spec.target.classes:
        target["classes"] = list(spec.target.classes)
    columns = {}
    for column in spec.columns:
        rules: dict[str, Any] = {"role": column.role}
        if column.is_feature:
            rules["nullable"] = column.nullable
        if column.min is not None:
            rules["min"] = column.min
        if column.max is not None:
            rules["max"] = column.max
        if column.values:
            rules["values"] = list(column.values)
        if column.description:
            rules["description"] = column.description
        if column.example is not None:
            rules["example"] = column.example
        if column.pii:
            rules["pii"] = True
        if column.pii_feature:
            rules["pii_feature"] = True
        if column.derived:
            rules["derived"] = True
            rules["from"] = list(column.inputs)
        columns[column.name] = rules
    return {"task": spec.task, "target": target, "columns": columns}

"""The one predict path: the API, batch scoring and the promotion gate all call `Predictor`.

Input is validated with the schema built from the package's own data spec, the derived
features are computed by the package's copy of the project's `derive` (`model.derived`),
then scored by ONNX Runtime behind the numpy preprocessing (`model.onnx`), or by the
scikit-learn pipeline when the package has no verified ONNX file. The outputs follow
the task: a label and the probability of each class, or a number.

The API's path (`records`, with ONNX) needs only numpy and ONNX Runtime: pandas, pandera
and scikit-learn are imported by the paths that use them (the scikit-learn fallback and
`predict_frame`, for batch scoring and the gate), so the service image can leave them out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from ..model.derived import derived_columns
from ..model.outputs import model_outputs, predicted_labels
from .package import ModelPackage

if TYPE_CHECKING:
    import pandas as pd
    import pandera.pandas as pa

PREDICTION = "prediction"


def probability_column(label) -> str:
    return f"probability_{label}"


class Predictor:
    """Scores validated feature columns with a packaged model."""

    def __init__(self, package: ModelPackage, threads: int | None = None):
        self.package = package
        self.version = package.version
        self.spec = package.spec
        self.classes = package.classes
        self.threshold = package.threshold
        self._class_names = [str(c) for c in self.classes]
        self._onnx = package.onnx_model(threads)
        self._derive = package.derive  # None without derived features
        if self._onnx is None:
            package.model  # noqa: B018 - load now, so a broken model fails at start-up

    @cached_property
    def schema(self) -> pa.DataFrameSchema:
        """The raw input columns' schema, for frames (`predict_frame`)."""
        from ..data.schema import feature_schema

        return feature_schema(self.spec)

    @property
    def engine(self) -> str:
        return "onnxruntime" if self._onnx is not None else "scikit-learn"

    def outputs(self, columns: Mapping[str, Sequence | np.ndarray], rows: int) -> np.ndarray:
        """Class probabilities (rows x classes) or values (rows) for valid feature columns."""
        if rows == 0:  # an empty chunk or partition: neither runtime scores zero rows
            return np.empty((0, len(self.classes)) if self.spec.is_classification else 0)
        if self._onnx is not None:
            return self._onnx.outputs(columns, rows)
        import pandas as pd
        import sklearn

        frame = pd.DataFrame({name: columns[name] for name in self.spec.feature_names})
        with sklearn.config_context(skip_parameter_validation=True):
            return model_outputs(self.package.model, frame, self.spec).astype(np.float64)

    def labels(self, outputs: np.ndarray) -> np.ndarray:
        if not self.spec.is_classification:
            return outputs
        return predicted_labels(outputs, self.classes, self.threshold)

    def with_derived(self, columns: dict, rows: int, first_row: int = 1) -> dict:
        """The raw `columns` and the derived ones `derive` computes from them."""
        if self._derive is None:
            return columns
        return columns | derived_columns(self.spec, self._derive, columns, rows, first_row)

    def records(self, records: list[dict]) -> list[dict]:
        """Predictions for records the API has validated already.

        The derived features join each record, so the prediction log holds what the model
        was given (monitoring measures their drift too).
        """
        raw = {name: [r[name] for r in records] for name in self.spec.inputs}
        columns = self.with_derived(raw, len(records))
        for column in self.spec.derived:
            for record, value in zip(records, columns[column.name].tolist(), strict=True):
                record[column.name] = None if value != value else value  # NaN: missing
        outputs = self.outputs(columns, len(records))
        if not self.spec.is_classification:
            return [{PREDICTION: value} for value in outputs.tolist()]
        labels = self.labels(outputs).tolist()
        return [
            {PREDICTION: label, "probabilities": dict(zip(self._class_names, row, strict=True))}
            for label, row in zip(labels, outputs.tolist(), strict=True)
        ]

    def predict_frame(self, df: pd.DataFrame, first_row: int = 1) -> pd.DataFrame:
        """Validate the feature columns of `df` and return its predictions as columns.

        Columns that are not features (ids, the target, ...) are ignored; `first_row`
        numbers the frame's first row in error messages (its row in the file).
        """
        import pandas as pd

        from ..data.load import validate

        features = df[[column for column in df.columns if column in self.schema.columns]]
        # Number rows by position: a chunk's index may not start at 0.
        validated = validate(features.reset_index(drop=True), self.schema, first_row=first_row)
        raw = {name: validated[name].to_numpy() for name in self.spec.inputs}
        columns = self.with_derived(raw, len(validated), first_row)
        outputs = self.outputs(columns, len(validated))
        result = {PREDICTION: self.labels(outputs)}
        if self.spec.is_classification:
            for i, label in enumerate(self.classes):
                result[probability_column(label)] = outputs[:, i]
        return pd.DataFrame(result, index=df.index)

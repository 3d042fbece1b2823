"""The one predict function: the API and batch scoring both call `Predictor`.

Tabular input is validated with the schema (`data.validate`), laid out with
`features.feature_matrix`, then scored. The API validates each record with a
request model derived from the same schema and hands over the matrix directly.
"""

import numpy as np
import pandas as pd

from .data import validate
from .features import feature_matrix
from .package import ModelPackage
from .schema import FEATURE_SCHEMA

PROBABILITY = "probability"
PREDICTION = "prediction"


class Predictor:
    """Scores feature rows with a packaged model: probability of the positive class and label.

    ONNX Runtime runs the package's model.onnx; a package without one (a model
    skl2onnx cannot convert) is scored by scikit-learn with its input checks off,
    since the input is validated already.
    """

    def __init__(self, package: ModelPackage, threads: int | None = None):
        self.package = package
        self.version = package.version
        self.threshold = float(package.lineage["params"]["evaluate"]["threshold"])
        self._session = package.onnx_session(threads)
        if self._session is None:
            package.model  # noqa: B018 - load now, so a broken model fails at start-up
        else:
            self._input = self._session.get_inputs()[0].name
            # skl2onnx's outputs: the label, then the probabilities of each class.
            self._output = self._session.get_outputs()[1].name

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Positive-class probabilities for a validated float matrix in schema order."""
        if self._session is not None:
            x = np.ascontiguousarray(x, dtype=np.float64)
            return self._session.run([self._output], {self._input: x})[0][:, 1]
        import sklearn

        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            return self.package.model.predict_proba(x)[:, 1]

    def predict_matrix(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        proba = self.predict_proba(x)
        return proba, (proba >= self.threshold).astype(np.int64)

    def predict_frame(self, df: pd.DataFrame, first_row: int = 1) -> pd.DataFrame:
        """Validate the feature columns of `df` and return its probabilities and labels.

        Columns that are not features (ids, ...) are ignored; `first_row` numbers
        the frame's first row in error messages (its row in the file).
        """
        features = df[[column for column in df.columns if column in FEATURE_SCHEMA.columns]]
        # Number rows by position: a chunk's index may not start at 0.
        features = features.reset_index(drop=True)
        validated = validate(features, FEATURE_SCHEMA, first_row=first_row)
        proba, labels = self.predict_matrix(feature_matrix(validated))
        return pd.DataFrame({PROBABILITY: proba, PREDICTION: labels}, index=df.index)

"""The one schema of the raw data: pipeline validation and every later check derive from it.

Each feature column carries its allowed range, a description and an example value.
Replace the columns with your own data's; nothing else needs to change by hand.
"""

import pandera.pandas as pa

TARGET = "malignant"

# name: (minimum, maximum, example, description). Ranges are generous bounds
# around the observed data, so a unit error or a corrupt value is caught.
_FEATURES = {
    "mean_radius": (0.0, 50.0, 14.1, "Mean distance from centre to perimeter points"),
    "mean_texture": (0.0, 60.0, 19.3, "Standard deviation of grey-scale values"),
    "mean_perimeter": (0.0, 300.0, 92.0, "Mean perimeter of the nuclei"),
    "mean_area": (0.0, 4000.0, 655.0, "Mean area of the nuclei"),
    "mean_smoothness": (0.0, 1.0, 0.096, "Local variation in radius lengths"),
    "mean_compactness": (0.0, 1.0, 0.104, "Perimeter squared over area, minus one"),
    "mean_concavity": (0.0, 1.0, 0.089, "Severity of concave portions of the contour"),
    "mean_concave_points": (0.0, 1.0, 0.049, "Number of concave portions of the contour"),
    "mean_symmetry": (0.0, 1.0, 0.181, "Symmetry of the nuclei"),
    "mean_fractal_dimension": (0.0, 1.0, 0.063, "Coastline approximation minus one"),
}

FEATURES = list(_FEATURES)


def _feature_column(minimum: float, maximum: float, example: float, description: str):
    return pa.Column(
        float,
        checks=pa.Check.in_range(minimum, maximum),
        nullable=False,
        coerce=True,
        description=description,
        metadata={"example": example},
    )


FEATURE_SCHEMA = pa.DataFrameSchema(
    {name: _feature_column(*spec) for name, spec in _FEATURES.items()},
    strict=True,
    ordered=False,
    name="features",
)

RAW_SCHEMA = pa.DataFrameSchema(
    {
        **FEATURE_SCHEMA.columns,
        TARGET: pa.Column(
            int,
            checks=pa.Check.isin([0, 1]),
            nullable=False,
            coerce=True,
            description="1 when the tumour is malignant, 0 when benign",
        ),
    },
    strict=True,
    name="raw",
)

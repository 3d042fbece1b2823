"""pre-commit check: data files belong in DVC, not in git.

Blocks staged files with a data extension, and any file under data/ other than
DVC's pointers (.dvc) and .gitignore files. Track such files with `dvc add PATH`.
"""

import sys
from collections.abc import Sequence
from pathlib import PurePosixPath

DATA_SUFFIXES = frozenset(
    {
        ".csv", ".tsv", ".parquet", ".feather", ".arrow", ".xlsx", ".xls", ".h5", ".hdf5",
        ".npy", ".npz", ".pkl", ".pickle", ".joblib", ".onnx", ".avro", ".orc", ".sqlite", ".db",
    }
)  # fmt: skip
ALLOWED_UNDER_DATA = frozenset({".dvc", ".gitignore"})


def is_data_outside_dvc(path: str) -> bool:
    posix = PurePosixPath(path)
    if posix.name == ".gitignore" or posix.suffix in ALLOWED_UNDER_DATA:
        return False
    return posix.parts[0] == "data" or posix.suffix.lower() in DATA_SUFFIXES


def main(argv: Sequence[str] | None = None) -> int:
    paths = list(sys.argv[1:] if argv is None else argv)
    blocked = [path for path in paths if is_data_outside_dvc(path)]
    for path in blocked:
        print(f"{path}: data file outside DVC. Track it: `dvc add {path}`, commit the .dvc file.")
    return 1 if blocked else 0


if __name__ == "__main__":
    sys.exit(main())

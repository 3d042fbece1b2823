"""Batch scoring: stream a CSV or Parquet file through the model, chunk by chunk.

Memory stays flat whatever the file's size; each chunk is validated with the schema
built from the package's data spec (errors give the row numbers in the file) and
scored by the same `Predictor` the API uses. The output keeps every input column and
adds `prediction` (and `probability_<class>` per class for a classifier). It appears
only once every row is scored.
"""

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import structlog
from tqdm import tqdm

from ..artifacts import atomic_path
from ..errors import UserFacingError
from ..release.package import load_package
from ..release.predictor import Predictor

log = structlog.get_logger(__name__)

CHUNK_SIZE = 100_000
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def file_format(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise UserFacingError(
            f"{path}: unknown file type {path.suffix!r}; use a .csv or .parquet file."
        ) from None


def read_chunks(path: Path, chunk_size: int) -> tuple[Iterator[pd.DataFrame], int | None]:
    """The file's rows in frames of at most `chunk_size`, and the row count when known."""
    if not path.is_file():
        raise UserFacingError(f"{path} not found: give the path of a CSV or Parquet file.")
    if file_format(path) == "parquet":
        try:
            parquet = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise UserFacingError(f"{path} is not a readable Parquet file: {exc}") from None
        batches = parquet.iter_batches(batch_size=chunk_size)
        return (batch.to_pandas() for batch in batches), parquet.metadata.num_rows
    try:
        return pd.read_csv(path, chunksize=chunk_size), None
    except (pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UserFacingError(f"{path} is not a readable CSV file: {exc}") from None


def _checked(chunks: Iterator[pd.DataFrame], source: Path) -> Iterator[pd.DataFrame]:
    try:
        yield from chunks
    except (pd.errors.ParserError, UnicodeDecodeError, pa.ArrowInvalid, OSError) as exc:
        # OSError: a Parquet page that cannot be decoded (its footer read at the start).
        raise UserFacingError(f"{source} cannot be read: {exc}") from None


class _Writer:
    """Appends scored chunks to a CSV or Parquet file."""

    def __init__(self, path: Path, kind: str):
        self.path, self.kind = path, kind
        # The writer, and the Arrow schema it was opened with (the first chunk's).
        self.parquet: tuple[pq.ParquetWriter, pa.Schema] | None = None

    def write(self, frame: pd.DataFrame) -> None:
        if self.kind == "csv":
            header = not self.path.exists()
            frame.to_csv(self.path, mode="a", header=header, index=False)
            return
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.parquet is None:
            self.parquet = pq.ParquetWriter(self.path, table.schema), table.schema
        writer, schema = self.parquet
        if table.schema != schema:
            # CSV chunks infer their own types: follow the first chunk's.
            try:
                table = table.cast(schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                raise UserFacingError(
                    f"column types change between chunks of the input ({exc}); "
                    "write it as Parquet, or use a larger --chunk-size."
                ) from None
        writer.write_table(table)

    def close(self) -> None:
        if self.parquet is not None:
            self.parquet[0].close()


def score_file(
    source: Path | str,
    target: Path | str,
    package_path: Path | str,
    chunk_size: int = CHUNK_SIZE,
    progress: bool = True,
) -> int:
    """Write `source`'s rows with their prediction columns to `target`.

    Returns the number of rows scored.
    """
    source, target = Path(source), Path(target)
    if chunk_size < 1:
        raise UserFacingError(f"--chunk-size must be at least 1, not {chunk_size}.")
    kind = file_format(target)
    predictor = Predictor(load_package(package_path))
    chunks, total = read_chunks(source, chunk_size)
    rows = 0
    with (
        atomic_path(target) as tmp,
        tqdm(total=total, unit="rows", unit_scale=True, disable=not progress) as bar,
    ):
        writer = _Writer(tmp, kind)
        try:
            for chunk in _checked(chunks, source):
                # Row numbers as in the file: 1 is the first data row.
                scored = predictor.predict_frame(chunk, first_row=rows + 1)
                writer.write(pd.concat([chunk, scored], axis=1))
                rows += len(chunk)
                bar.update(len(chunk))
        finally:
            writer.close()
        if rows == 0:
            raise UserFacingError(f"{source} has no rows to score.")
    log.info("file scored", source=str(source), target=str(target), rows=rows)
    return rows

"""The `spark-submit` entry point: `score --engine spark` on the cluster spark-submit names.

    spark-submit [options] deploy/spark/score.py INPUT OUTPUT --model MODEL_DIR

deploy/spark/submit.sh builds the command. The master, executors and resources come from
spark-submit; the scoring is `score --engine spark`'s: same package, schema and predictor.
"""

import argparse
import sys

from {{ cookiecutter.module_name }}.errors import UserFacingError
from {{ cookiecutter.module_name }}.serving.spark_score import score_with_spark


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="CSV or Parquet file or folder (a path or a URI)")
    parser.add_argument("output", help="the Parquet dataset to write (a path or a URI)")
    parser.add_argument("--model", required=True, help="the model package's folder")
    parser.add_argument("--partitions", type=int, help="split a local input into about N")
    args = parser.parse_args(argv)
    try:
        rows = score_with_spark(args.input, args.output, args.model, None, args.partitions)
    except UserFacingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{rows} rows scored into {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

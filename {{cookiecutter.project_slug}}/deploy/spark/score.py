"""The `spark-submit` entry point: `score --engine spark` on the cluster spark-submit names.

deploy/spark/submit.sh builds the command:

    spark-submit [options] deploy/spark/score.py INPUT OUTPUT --model MODEL_DIR [--partitions N]

The master, executors and resources come from spark-submit; everything else is the
command's own: the same arguments, package, schema, predictor and error messages.
"""

import sys

from groundwork.cli import main

if __name__ == "__main__":
    sys.exit(main(["score", *sys.argv[1:], "--engine", "spark"]))

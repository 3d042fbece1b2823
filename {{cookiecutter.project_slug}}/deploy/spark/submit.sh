#!/usr/bin/env bash
# Score a file with spark-submit, on any Spark cluster: the same model package, schema and
# predictor as `{{ cookiecutter.project_slug }} score --engine spark`.
#
#   deploy/spark/submit.sh INPUT OUTPUT MODEL_DIR [--partitions N]
#
# MASTER picks the cluster: local[*] (the default: this machine), spark://host:7077,
# yarn, or k8s://https://api-server:443. SPARK_SUBMIT_OPTIONS adds spark-submit options,
# e.g. "--deploy-mode cluster --num-executors 8 --executor-memory 4g".
#
# The driver reads MODEL_DIR and broadcasts it to the executors: in the default client
# deploy mode that is a path on this machine; in cluster mode, one the driver can read.
# The project's own code travels as a wheel (--py-files). Its dependencies (the groundwork
# runtime, ONNX Runtime, pandera, pandas, pyarrow) must be importable by the executors'
# Python: run on nodes or an image where `uv sync --no-dev --group spark` was done, or pack
# this environment (e.g. with venv-pack) and add to SPARK_SUBMIT_OPTIONS
# "--archives env.tar.gz#environment --conf spark.pyspark.python=./environment/bin/python".
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ $# -lt 3 ]]; then
    echo "usage: deploy/spark/submit.sh INPUT OUTPUT MODEL_DIR [--partitions N]" >&2
    exit 2
fi
input="$1" output="$2" model="$3"
shift 3

uv build --wheel --quiet --out-dir dist
wheel="$(ls -t dist/{{ cookiecutter.module_name }}-*.whl | head -n 1)"
# spark-submit ships with PySpark (the `spark` dependency group).
# shellcheck disable=SC2086 # SPARK_SUBMIT_OPTIONS is a list of options
exec uv run --group spark spark-submit \
    --master "${MASTER:-local[*]}" \
    --name "{{ cookiecutter.project_slug }} score" \
    --py-files "$wheel" \
    ${SPARK_SUBMIT_OPTIONS:-} \
    deploy/spark/score.py "$input" "$output" --model "$model" "$@"

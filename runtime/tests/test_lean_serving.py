"""The service runs without the pipeline's libraries, as in the image of an ONNX package."""

import json
import subprocess
import sys

from conftest import records

from groundwork.release.package import (
    load_package,
)
from groundwork.release.predictor import (
    Predictor,
)

# What [project] dependencies leave out: the sklearn and pipeline groups.
PIPELINE_ONLY = "sklearn,scipy,pandas,pandera,pyarrow,hydra,omegaconf,joblib,dvc,matplotlib"

# In a fresh interpreter, where importing any of those fails as if it were not installed:
# the modules `serve` loads, then one package scored as /predict scores it. The rows come
# on stdin: as an argument, the rows of a wide table exceed the system's limit on one.
SERVE_WITHOUT = """
import importlib, importlib.abc, json, sys
module, blocked, package = sys.argv[1], set(sys.argv[2].split(",")), sys.argv[3]
rows = sys.stdin.read()

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NotInstalled())
for name in ("cli", "serving.api", "serving.access", "release.registry", "log"):
    importlib.import_module(f"{module}.{name}")
load_package = importlib.import_module(f"{module}.release.package").load_package
Predictor = importlib.import_module(f"{module}.release.predictor").Predictor
predictor = Predictor(load_package(package))
try:
    import sklearn  # noqa: F401
except ModuleNotFoundError:
    missing = True
else:
    missing = False
answer = {"engine": predictor.engine, "sklearn_missing": missing}
print(json.dumps(answer | {"predictions": predictor.records(json.loads(rows))}))
"""


def test_an_onnx_package_is_served_without_the_pipeline_libraries(model_package, unseen_rows, spec):
    rows = records(unseen_rows, spec, rows=80)  # past the few-rows path of the encoding
    module = Predictor.__module__.partition(".")[0]
    command = [sys.executable, "-c", SERVE_WITHOUT, module, PIPELINE_ONLY]
    done = subprocess.run(
        [*command, str(model_package)], input=json.dumps(rows), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["engine"] == "onnxruntime"
    assert answer["sklearn_missing"] is True
    # The same predictions as in this environment, which has every library.
    expected = json.loads(json.dumps(Predictor(load_package(model_package)).records(rows)))
    assert answer["predictions"] == expected

"""``import tfq_meta`` loads neither keras-tuner, scikit-learn's estimators nor the launchers;
they load, and work, when first used.

Oracle: ``sys.modules`` of a fresh interpreter. Keras 3 itself imports the ``sklearn`` package
when it is installed (``keras.src.wrappers``), so for scikit-learn what is checked is that
tfq_meta adds none of its modules to those Keras loaded.
"""
import importlib
import json
import pathlib
import re

import pytest

from conftest import run_fresh_python

# The children import the tfq_meta under test, wherever the installed one is.
ROOT = str(pathlib.Path(__file__).resolve().parents[1])

# Modules that must wait for first use.
LAUNCHERS = ("tfq_meta.distributed.search", "tfq_meta.distributed.workers",
             "tfq_meta.distributed.processes")


def test_import_tfq_meta_loads_no_tuner_estimator_or_launcher_until_first_use():
    result = run_fresh_python("""
    import json, sys
    import keras
    after_keras = set(sys.modules)
    import tfq_meta
    loaded = sorted(set(sys.modules) - after_keras)
    used = {"QSVC": tfq_meta.kernels.QSVC.__module__,
            "launch": tfq_meta.distributed.launch.__module__,
            "is_chief": tfq_meta.distributed.is_chief(),
            "run_workers": tfq_meta.distributed.run_workers.__module__,
            "StudentHyperModel": tfq_meta.tuning.StudentHyperModel.__module__}
    print(json.dumps({"loaded": loaded, "used": used,
                      "keras_tuner_after_use": "keras_tuner" in sys.modules,
                      "in_dir": sorted({"distributed", "tuning"} & set(dir(tfq_meta)))}))
    """, PYTHONPATH=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    loaded = report["loaded"]
    assert [m for m in loaded if m == "keras_tuner" or m.startswith("keras_tuner.")] == []
    assert [m for m in loaded if m.startswith("sklearn")] == []
    assert "tfq_meta.kernels.qsvc" not in loaded and "tfq_meta.tuning" not in loaded
    assert [m for m in loaded if m.startswith(LAUNCHERS)] == []
    assert "tfq_meta.meta" in loaded  # the eager part did load

    assert report["used"] == {"QSVC": "tfq_meta.kernels.qsvc",
                              "launch": "tfq_meta.distributed.search.launcher",
                              "is_chief": True, "run_workers": "tfq_meta.distributed.workers",
                              "StudentHyperModel": "tfq_meta.tuning.circuit_models"}
    assert report["keras_tuner_after_use"]
    assert report["in_dir"] == ["distributed", "tuning"]


@pytest.mark.parametrize("module, name", [("tfq_meta", "tunning"),
                                          ("tfq_meta.kernels", "QSVM"),
                                          ("tfq_meta.distributed", "lauch")])
def test_unknown_names_raise_attribute_errors_naming_the_module(module, name):
    message = re.escape(f"module '{module}' has no attribute '{name}'")
    with pytest.raises(AttributeError, match=f"^{message}$"):
        getattr(importlib.import_module(module), name)

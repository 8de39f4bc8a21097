"""``import tfq_meta`` selects TensorFlow's BFC allocator for the CPU unless the user chose one.

Oracle: TensorFlow's own allocator statistics (``tf.config.experimental.get_memory_info``), which
exist for the BFC allocator and not for the default one, in a fresh interpreter (the allocator is
chosen once per process, at its first op).
"""
import importlib
import json
import os
import pathlib

import pytest

from conftest import run_fresh_python
from tfq_meta import _runtime

ROOT = str(pathlib.Path(__file__).resolve().parents[1])
VARIABLE = "TF_CPU_ALLOCATOR_USE_BFC"


def test_import_after_keras_selects_the_bfc_allocator():
    result = run_fresh_python("""
    import json, os
    import keras
    import tfq_meta
    import tensorflow as tf
    product = tf.matmul(tf.ones([512, 512]), tf.ones([512, 512]))
    print(json.dumps({"variable": os.environ["TF_CPU_ALLOCATOR_USE_BFC"],
                      "peak": tf.config.experimental.get_memory_info("CPU:0")["peak"]}))
    """, PYTHONPATH=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["variable"] == "true"
    assert report["peak"] >= 3 * 512 * 512 * 4  # both operands and the product, float32


@pytest.mark.parametrize("chosen", [None, "false", "true"])
def test_a_users_choice_is_kept(monkeypatch, chosen):
    if chosen is None:
        monkeypatch.delenv(VARIABLE, raising=False)
    else:
        monkeypatch.setenv(VARIABLE, chosen)
    importlib.reload(_runtime)
    assert os.environ[VARIABLE] == (chosen or "true")

"""tfq_meta where TensorFlow Quantum cannot be imported: everything on the statevector engine
works and matches its oracle; every feature that needs TFQ fails where it is constructed, with an
error naming the package and where it installs; and nothing imports TFQ behind the user's back.

One fresh process with ``import tensorflow_quantum`` blocked (``tests/tfq_blocker.py``) runs
``tests/statevector_only_checks.py``, which reports tfq_meta's numbers next to independent
oracles: Cirq's exact simulator, finite differences of a MAML objective computed with Cirq, and
NumPy formulas. The platforms without TFQ wheels themselves (macOS arm64, Windows, Python 3.13)
are not tested here.
"""
import json
import os
import pathlib

import numpy as np
import pytest

from conftest import run_fresh_python
from statevector_only_checks import QSIM_MODELS
from tfq_meta import export, models

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHILD = """
import tfq_blocker
tfq_blocker.block()
import statevector_only_checks
statevector_only_checks.main()
"""
TFQ_FEATURES = ("engine='qsim'", "repetitions", "noise", "Cirq backend", "quantum data",
                "method='pairwise'", "auto, 21 qubits", "kernel auto, 21 qubits",
                "qsim SavedModel", "qsim .keras file")
# What each feature's error names, besides the package and its platforms.
NAMED_IN_ERROR = {"engine='qsim'": "engine='qsim'", "repetitions": "`repetitions=100`",
                  "noise": "`noise`", "Cirq backend": "A Cirq backend (engine=Simulator(...)",
                  "quantum data": "`data_circuits`",
                  "method='pairwise'": "method='pairwise'",
                  "auto, 21 qubits": "engine='auto' on this circuit of 21 qubits",
                  "kernel auto, 21 qubits": "method='auto' on this circuit of 21 qubits",
                  "qsim SavedModel": "engine='qsim'", "qsim .keras file": "engine='qsim'"}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    directory = tmp_path_factory.mktemp("without_tfq")
    # Written here, where TFQ is installed, for the child to fail to load.
    qsim_model = models.student(n_features=1, n_qubits=2, n_layers=1, engine="qsim")
    export.export(qsim_model, directory / "qsim_student")
    qsim_model.save(directory / "qsim_student.keras")
    result = run_fresh_python(CHILD, cwd=directory,
                              PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
                              **{QSIM_MODELS: str(directory)})
    assert result.returncode == 0, result.stderr[-5000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_tfq_is_reported_missing_and_never_imported(report):
    assert report["available"] is False
    assert report["tfq_modules"] == []


@pytest.mark.parametrize("area", ["pqc", "pqc_13_qubits"])
def test_pqc_runs_on_the_statevector_engine_and_matches_cirq(report, area):
    assert report[area]["engine"] == "statevector"
    np.testing.assert_allclose(report[area]["value"], report[area]["oracle"], atol=2e-5)


def test_meta_learner_step_and_adaptation_match_the_cirq_maml_oracle(report):
    meta = report["meta_learner"]
    np.testing.assert_allclose(meta["weights"], meta["weights_oracle"], atol=1e-7)
    np.testing.assert_allclose(meta["adapted"], meta["adapted_oracle"], atol=1e-9)


def test_distiller_step_loss_is_the_temperature_scaled_kl(report):
    distiller = report["distiller"]
    # The KL (0.02) is small against its float32 terms: rounding, not a relative 1e-5, bounds it.
    np.testing.assert_allclose(distiller["loss"], distiller["oracle"], rtol=0,
                               atol=distiller["float32_rounding"])
    assert distiller["teacher_moved"] == 0.0
    assert distiller["student_moved"] > 1e-4


def test_kernel_gram_matrix_equals_cirq_state_overlaps(report):
    kernel = report["kernel"]
    assert kernel["method"] == "statevector"
    np.testing.assert_allclose(kernel["value"], kernel["oracle"], atol=2e-6)


def test_tuned_model_matches_cirq_and_reloads_with_identical_predictions(report):
    tuned = report["tuned_and_exported"]
    assert tuned["engine"] == "statevector"
    np.testing.assert_allclose(tuned["value"], tuned["oracle"], atol=2e-5)
    np.testing.assert_allclose(tuned["served"], tuned["value"], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("feature", TFQ_FEATURES)
def test_features_that_need_tfq_raise_a_clear_error_when_constructed(report, feature):
    raised = report["errors"][feature]
    assert raised is not None, f"{feature} did not raise"
    error_type, is_module_not_found, message = raised
    assert (error_type, is_module_not_found) == ("TensorFlowQuantumMissing", True), message
    assert "tensorflow-quantum==0.7.6" in message
    assert "Linux x86_64 with Python 3.10, 3.11 or 3.12" in message
    assert NAMED_IN_ERROR[feature] in message


def test_a_circuit_no_engine_could_hold_fails_on_memory_not_on_tfq(report):
    error_type, _, message = report["errors"]["auto, 40 qubits"]
    assert error_type == "ValueError"
    assert "has 40 qubits" in message and "Use fewer qubits" in message

"""Shared test setup: quiet TensorFlow logs and independent oracles (Cirq simulators)."""
import os
import subprocess
import sys
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import cirq  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

# The longest test files (each 65-175 s of CPU on 2 cores, pytest --durations), longest first.
# pytest-xdist hands out whole files (--dist loadfile) in collection order (--no-loadscope-reorder;
# its default order is by number of tests), so a long file started last would keep one worker
# busy while the other idles.
LONGEST_FILES = ("test_meta_training.py", "test_distributed_training.py", "test_readme.py",
                 "test_export.py", "test_meta_learner.py", "test_tuning.py",
                 "test_task_shards.py", "test_distributed_search.py", "test_backends.py",
                 "test_distillation.py", "test_kernel_training.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FILES)))


def resolver(layer, features, weights=None):
    """ParamResolver of one example: features for the data symbols, weights for the rest."""
    weights = np.asarray(layer.circuit_weights) if weights is None else weights
    values = {str(s): float(v) for s, v in zip(layer.data_symbols, features)}
    values.update({str(s): float(v) for s, v in zip(layer.weight_symbols, weights)})
    return cirq.ParamResolver(values)


def cirq_expectations(layer, features, weights=None, circuit=None, noise=None):
    """Exact expectations [batch, n_obs] of ``layer``'s circuit, computed by Cirq in complex128."""
    circuit = layer.circuit if circuit is None else circuit
    if noise is None:
        simulator = cirq.Simulator(dtype=np.complex128)
    else:
        simulator = cirq.DensityMatrixSimulator(dtype=np.complex128, noise=noise)
    rows = []
    for row in np.atleast_2d(features):
        values = simulator.simulate_expectation_values(
            circuit, layer.observables, param_resolver=resolver(layer, row, weights),
            qubit_order=sorted(circuit.all_qubits()))
        rows.append(np.real(values))
    return np.array(rows)


def resolved_expectations(resolved):
    """Exact expectations [batch, n_obs] of resolved circuits (no free symbols), by Cirq."""
    simulator = cirq.Simulator(dtype=np.complex128)
    return np.array([np.real(simulator.simulate_expectation_values(
        circuit, resolved.observables, qubit_order=resolved.qubits))
        for circuit in resolved.circuits])


def run_fresh_python(script, stdin="", cwd=None, **env):
    """Runs ``script`` in a fresh interpreter; returns the CompletedProcess."""
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow", **env}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], input=stdin,
                          capture_output=True, text=True, env=environment, cwd=cwd, timeout=300)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)

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


def graph_op_types(function, *args):
    """The op types of ``tf.function`` ``function``'s graph for ``args``, with those of the
    functions it calls (branches, loop bodies, gradients)."""
    graph = function.get_concrete_function(*args).graph.as_graph_def()
    return {node.op for node in graph.node} | {
        node.op for library_function in graph.library.function
        for node in library_function.node_def}


def run_fresh_python(script, stdin="", cwd=None, **env):
    """Runs ``script`` in a fresh interpreter; returns the CompletedProcess."""
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow", **env}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], input=stdin,
                          capture_output=True, text=True, env=environment, cwd=cwd, timeout=300)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)

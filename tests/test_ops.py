"""CompiledCircuit: expectations on several observable sets and states of one compiled circuit,
against Cirq; and CircuitExpectation bound to one set."""
import cirq
import numpy as np
import pytest
import sympy
import tensorflow as tf

from conftest import graph_op_types
from tfq_meta import ops

X, A, B = sympy.symbols("x a b")
QUBITS = cirq.LineQubit.range(3)
CIRCUIT = cirq.Circuit(cirq.H(QUBITS[0]), cirq.rx(A * X)(QUBITS[1]), cirq.CNOT(*QUBITS[:2]),
                       cirq.ry(B)(QUBITS[2]), cirq.ZZPowGate(exponent=0.5 * X + B)(*QUBITS[1:]))
VALUES = np.random.default_rng(0).uniform(-2, 2, (4, 3))


def cirq_values(observables, values=VALUES):
    simulator = cirq.Simulator(dtype=np.complex128)
    observables = ops.parse_observables(observables, QUBITS)
    return np.array([np.real(simulator.simulate_expectation_values(
        CIRCUIT, observables, param_resolver=dict(zip("xab", row)))) for row in values])


@pytest.mark.parametrize("engine", ["statevector", "qsim"])
def test_one_compiled_circuit_measures_several_observable_sets(engine):
    compiled = ops.CompiledCircuit(CIRCUIT, ["x", "a", "b"], engine=engine)
    assert compiled.engine == engine
    for observables in (["Z0", "X1*Y2"], "0.5*Z2 - Y0*Y1", ["Z0", "X1*Y2"]):
        np.testing.assert_allclose(compiled.expectations(VALUES, observables).numpy(),
                                   cirq_values(observables), atol=1e-5)
    prepared = compiled.prepare(["X0", "Z1*Z2"])
    assert prepared == ops.parse_observables(["X0", "Z1*Z2"], QUBITS)
    np.testing.assert_allclose(compiled.expectations(VALUES, prepared).numpy(),
                               cirq_values(["X0", "Z1*Z2"]), atol=1e-5)


@pytest.mark.parametrize("engine", ["statevector", "qsim"])
def test_states_come_from_the_statevector_engine_on_any_engine(engine):
    compiled = ops.CompiledCircuit(CIRCUIT, [X, A, B], engine=engine)
    states = compiled.states(VALUES).numpy()
    assert states.shape == (4, 8) and states.dtype == np.complex64
    for state, row in zip(states, VALUES):
        expected = cirq.final_state_vector(CIRCUIT, param_resolver=dict(zip("xab", row)),
                                           qubit_order=QUBITS, dtype=np.complex128)
        assert abs(np.vdot(expected, state)) == pytest.approx(1.0, abs=1e-5)  # up to a phase


def test_auto_runs_the_statevector_engine_where_xla_compiles_and_qsim_elsewhere(monkeypatch):
    # The choice made at 14-16 qubits, at 3: a test of that size would take minutes.
    monkeypatch.setattr(ops, "EXPECTATION_STATEVECTOR_MAX_QUBITS", 2)
    monkeypatch.setattr(ops, "XLA_STATEVECTOR_MAX_QUBITS", 3)
    compiled = ops.CompiledCircuit(CIRCUIT, [X, A, B])
    assert (compiled.engine, compiled.xla_engine, compiled.supports_jit) == (
        "qsim", "statevector", True)
    observables = compiled.prepare(["Z0", "X1*Y2"])
    step = 1e-3
    # d/dx of the sum of both expectations, by central differences of Cirq's values.
    shifted = [VALUES + sign * step * np.eye(3)[0] for sign in (1, -1)]
    expected_gradient = (cirq_values(observables, shifted[0]).sum(1)
                         - cirq_values(observables, shifted[1]).sum(1)) / (2 * step)

    def expectations_and_gradient(values):
        with tf.GradientTape() as tape:
            tape.watch(values)
            expectations = compiled.expectations(values, observables)
        return expectations, tape.gradient(expectations, values)

    values = tf.constant(VALUES, tf.float32)
    for jit_compile in (True, False):
        function = tf.function(expectations_and_gradient, jit_compile=jit_compile)
        runs_tfq = any(op.startswith("Tfq") for op in graph_op_types(function, values))
        assert runs_tfq == (not jit_compile)
        expectations, gradient = function(values)
        np.testing.assert_allclose(expectations.numpy(), cirq_values(observables), atol=1e-5)
        np.testing.assert_allclose(gradient.numpy()[:, 0], expected_gradient, atol=1e-3)


@pytest.mark.parametrize("xla_max_qubits, options, can_tell_xla", [
    (3, {"engine": "qsim"}, True), (3, {"repetitions": 10}, True), (3, {"noise": 0.01}, True),
    (2, {}, True), (3, {}, False)])
def test_auto_keeps_qsim_where_the_statevector_engine_cannot_stand_in_under_xla(
        monkeypatch, xla_max_qubits, options, can_tell_xla):
    monkeypatch.setattr(ops, "EXPECTATION_STATEVECTOR_MAX_QUBITS", 2)
    monkeypatch.setattr(ops, "XLA_STATEVECTOR_MAX_QUBITS", xla_max_qubits)
    monkeypatch.setattr(ops, "can_tell_xla_context", lambda: can_tell_xla)
    compiled = ops.CompiledCircuit(CIRCUIT, [X, A, B], **options)
    assert (compiled.engine, compiled.xla_engine, compiled.supports_jit) == ("qsim", None, False)


def test_circuit_expectation_is_a_compiled_circuit_bound_to_observables():
    expectation = ops.CircuitExpectation(CIRCUIT, [X, A, B], ["Z0", "X1*Y2"],
                                         state_dtype="complex128")
    assert expectation.compiled.engine == "statevector"
    result = expectation(tf.constant(VALUES))
    assert result.dtype == tf.float64
    np.testing.assert_allclose(result.numpy(), cirq_values(["Z0", "X1*Y2"]), atol=1e-12)


def test_bad_arguments_name_them():
    with pytest.raises(TypeError, match="`circuit` must be a cirq.Circuit"):
        ops.CompiledCircuit("circuit", [X])
    with pytest.raises(ValueError, match="`engine` must be one of"):
        ops.CompiledCircuit(CIRCUIT, [X, A, B], engine="gpu")
    with pytest.raises(ValueError, match="`observables` is empty"):
        ops.CompiledCircuit(CIRCUIT, [X, A, B]).prepare([])


def test_the_differentiators_accepted_are_those_the_qsim_engine_has():
    # ops names them without importing the qsim engine, which imports TensorFlow Quantum.
    from tfq_meta.engines import qsim

    assert set(ops.DIFFERENTIATORS) == set(qsim.DIFFERENTIATORS)

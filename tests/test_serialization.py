"""circuit_to_json / circuit_from_json: round trips of any supported exponent, checked by
equality and by Cirq's states, and the allow-list that keeps a config from running code."""
import json

import cirq
import numpy as np
import pytest
import sympy

from tfq_meta.serialization import circuit_from_json, circuit_to_json

X, W = sympy.symbols("x w")
QUBITS = [cirq.GridQubit(0, 1), cirq.GridQubit(1, 0)]


def circuit_of(*exponents):
    return cirq.Circuit([cirq.rx(e)(QUBITS[k % 2]) for k, e in enumerate(exponents)],
                        cirq.CZPowGate(exponent=W * X)(*QUBITS), cirq.H(QUBITS[0]))


@pytest.mark.parametrize("exponent", [
    X, 0.5 * X + 0.25, sympy.sin(W) * X, sympy.pi * X / 3, sympy.exp(-X ** 2) + sympy.Abs(W),
    sympy.Rational(2, 7) * sympy.atan(W) - sympy.E, sympy.log(1 + W ** 2) * sympy.tanh(X),
])
def test_round_trip_gives_the_same_circuit_and_states(exponent):
    circuit = circuit_of(exponent, W)
    text = circuit_to_json(circuit)
    json.loads(text)  # plain JSON
    rebuilt = circuit_from_json(text)
    assert rebuilt == circuit
    resolver = {"x": 0.7, "w": -1.3}
    np.testing.assert_allclose(
        cirq.final_state_vector(rebuilt, param_resolver=resolver, qubit_order=QUBITS),
        cirq.final_state_vector(circuit, param_resolver=resolver, qubit_order=QUBITS), atol=1e-7)


def test_circuit_without_symbols_round_trips():
    circuit = cirq.Circuit(cirq.H(QUBITS[0]), cirq.CNOT(*QUBITS), cirq.rx(0.3)(QUBITS[1]))
    assert circuit_from_json(circuit_to_json(circuit)) == circuit


def test_unsupported_function_is_refused_when_saving():
    with pytest.raises(TypeError, match="uses floor, which tfq_meta cannot serialize"):
        circuit_to_json(circuit_of(sympy.floor(X)))


def test_a_config_cannot_name_other_functions():
    data = json.loads(circuit_to_json(circuit_of(sympy.sin(X))))
    data["exponents"][0] = {"f": "__import__", "args": [{"symbol": "os"}]}
    with pytest.raises(ValueError, match="Unknown function '__import__'"):
        circuit_from_json(json.dumps(data))

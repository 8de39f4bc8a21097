"""Circuit builders: structure, symbols, and closed-form expectations through a PQC layer."""
import cirq
import numpy as np
import pytest
import sympy

from tfq_meta import PQC, circuits


def test_hardware_efficient_ansatz_structure():
    spec = circuits.hardware_efficient_ansatz(4, n_layers=2, rotations=("rx", "rz"),
                                              entangler="cz_ring")
    assert len(spec.weight_symbols) == 2 * 4 * 2
    assert spec.data_symbols == ()
    entanglers = [op for op in spec.circuit.all_operations() if len(op.qubits) == 2]
    assert len(entanglers) == 2 * 4 and all(op.gate == cirq.CZ for op in entanglers)
    assert str(spec.weight_symbols[3]) == "w0_1_1"


@pytest.mark.parametrize("entangler, pairs", [("cnot", 2), ("cnot_ring", 3), ("none", 0)])
def test_entanglers(entangler, pairs):
    spec = circuits.hardware_efficient_ansatz(3, entangler=entangler)
    two_qubit = [op for op in spec.circuit.all_operations() if len(op.qubits) == 2]
    assert len(two_qubit) == pairs


def test_angle_encoding_more_features_than_qubits_uses_successive_axes():
    spec = circuits.angle_encoding(2, n_features=5, rotation="ry")
    gates = [(type(op.gate).__name__, op.qubits[0].x, str(op.gate.exponent))
             for op in spec.circuit.all_operations()]
    assert gates == [("Ry", 0, "x0/pi"), ("Ry", 1, "x1/pi"), ("Rz", 0, "x2/pi"),
                     ("Rz", 1, "x3/pi"), ("Rx", 0, "x4/pi")]


def test_angle_encoding_repeats_fewer_features_over_all_qubits():
    layer = PQC(circuits.angle_encoding(3, n_features=1, rotation="rx"), ["Z0", "Z1", "Z2"])
    x = np.array([[0.3], [2.0]], np.float32)
    np.testing.assert_allclose(layer(x).numpy(), np.cos(x).repeat(3, axis=1), atol=1e-6)


def test_reuploading_structure_and_scaling():
    spec = circuits.reuploading_circuit(2, n_layers=3, trainable_scaling=True)
    assert [str(s) for s in spec.data_symbols] == ["x0", "x1"]
    # 4 trainable blocks of 2 qubits x 2 rotations, and 3 x 2 input scales.
    assert len(spec.weight_symbols) == 4 * 2 * 2 + 3 * 2
    assert spec.initial_values == {f"s{layer}_{i}": 1.0 for layer in range(3) for i in range(2)}
    encodings = [op for op in spec.circuit.all_operations()
                 if "x0" in cirq.parameter_names(op)]
    assert len(encodings) == 3


def test_trainable_scaling_closed_form():
    # One qubit, identity blocks (all rotation weights 0): <Z> = cos((s0 + s1) x).
    spec = circuits.reuploading_circuit(1, n_layers=2, rotations=("ry",), trainable_scaling=True)
    layer = PQC(spec, "Z0")
    layer.build((None, 1))
    scales = {"s0_0": 0.7, "s1_0": 1.9}
    layer.circuit_weights.assign([scales.get(str(s), 0.0) for s in layer.weight_symbols])
    x = np.array([[0.4], [-1.3]], np.float32)
    np.testing.assert_allclose(layer(x).numpy(), np.cos(2.6 * x), atol=1e-6)


def test_spec_addition_keeps_symbol_order_without_duplicates():
    a = circuits.angle_encoding(2)
    b = circuits.hardware_efficient_ansatz(2)
    total = a + b + a
    assert total.data_symbols == a.data_symbols
    assert total.weight_symbols == b.weight_symbols
    assert total.circuit == a.circuit + b.circuit + a.circuit
    assert total.qubits == cirq.LineQubit.range(2)


def test_custom_qubits():
    qubits = cirq.GridQubit.rect(1, 3)
    spec = circuits.reuploading_circuit(qubits, n_layers=1)
    assert spec.qubits == qubits
    assert sympy.Symbol("x2") in spec.data_symbols

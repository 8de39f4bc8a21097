"""Observable strings parse to the PauliSums written out by hand."""
import cirq
import numpy as np

from tfq_meta.observables import parse_observables

QUBITS = [cirq.GridQubit(0, 1), cirq.GridQubit(0, 0), cirq.GridQubit(1, 0)]
Q = sorted(QUBITS)  # string indices follow Cirq's sorted order


def test_strings_equal_explicit_pauli_sums():
    parsed = parse_observables(["Z0", "Z0*Z1", "X2", "0.5*X2 - 0.25*Y1*Z0 + 2", "-z1"], Q)
    expected = [
        cirq.PauliSum.from_pauli_strings([cirq.Z(Q[0])]),
        cirq.PauliSum.from_pauli_strings([cirq.Z(Q[0]) * cirq.Z(Q[1])]),
        cirq.PauliSum.from_pauli_strings([cirq.X(Q[2])]),
        0.5 * cirq.X(Q[2]) - 0.25 * cirq.Y(Q[1]) * cirq.Z(Q[0]) + 2.0 * cirq.PauliString(),
        -1.0 * cirq.Z(Q[1]) + 0.0 * cirq.PauliString(),
    ]
    for got, want in zip(parsed, expected):
        assert got == cirq.PauliSum() + want


def test_matrices_match_kronecker_products():
    q = cirq.LineQubit.range(2)
    (observable,) = parse_observables("0.5*X0*Z1 - Y1", q)
    x, y, z, i = (np.array(m, complex) for m in ([[0, 1], [1, 0]], [[0, -1j], [1j, 0]],
                                                  [[1, 0], [0, -1]], np.eye(2)))
    expected = 0.5 * np.kron(x, z) - np.kron(i, y)
    np.testing.assert_allclose(observable.matrix(q), expected, atol=1e-12)


def test_pauli_objects_pass_through():
    string = cirq.X(Q[0]) * cirq.Y(Q[2])
    total = 0.3 * cirq.Z(Q[1]) + string
    parsed = parse_observables([string, total], Q)
    assert parsed == [cirq.PauliSum.from_pauli_strings([string]), total]


def test_coefficients_in_exponent_notation():
    parsed = parse_observables(["1e-3*Z0", "2E+1*Z0 - 1.5e2*X1", "-2.5E-1*Y2 + 1e0"], Q)
    expected = [
        0.001 * cirq.Z(Q[0]),
        20.0 * cirq.Z(Q[0]) - 150.0 * cirq.X(Q[1]),
        -0.25 * cirq.Y(Q[2]) + 1.0 * cirq.PauliString(),
    ]
    for got, want in zip(parsed, expected):
        assert got == cirq.PauliSum() + want


def test_hermitian_products_on_one_qubit_are_accepted():
    (observable,) = parse_observables("X0*X0 + Z0*Z1", Q)
    assert observable == cirq.PauliSum() + cirq.PauliString() + cirq.Z(Q[0]) * cirq.Z(Q[1])

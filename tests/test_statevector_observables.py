"""Pauli-sum expectations of batched states against Cirq, a trailing permutation folded in."""
import cirq
import numpy as np
import pytest
import tensorflow as tf

from tfq_meta.engines.statevector.observables import Observables
from tfq_meta.engines.statevector.permutations import Permutation

QUBITS = [cirq.GridQubit(1, 1), cirq.GridQubit(0, 0), cirq.GridQubit(0, 1)]
A, B, C = QUBITS
OBSERVABLES = [
    cirq.PauliSum.from_pauli_strings([cirq.Z(A)]),
    0.5 * cirq.Z(A) * cirq.Z(C) - 0.3 * cirq.X(B) + 0.1 * cirq.PauliString(),
    cirq.Y(A) * cirq.X(B) * cirq.Z(C) + 0.7 * cirq.X(A) * cirq.Y(B),  # one bit mask, two terms
    -1.2 * cirq.Y(C) + 0.4 * cirq.X(A) * cirq.X(C) + 0.25 * cirq.Z(B),
]


def random_states(rng, batch, n=3):
    states = rng.normal(size=(batch, 2 ** n)) + 1j * rng.normal(size=(batch, 2 ** n))
    return states / np.linalg.norm(states, axis=1, keepdims=True)


def trailing_permutation(rng, n=3):
    """A CNOT then a random monomial gate on qubits (2, 0), as the compiler would leave them."""
    monomial = np.eye(4)[rng.permutation(4)] * np.exp(2j * np.pi * rng.random(4))
    cnot = Permutation.of_matrix(cirq.unitary(cirq.CNOT), (0, 1), n)
    return cnot.then(Permutation.of_matrix(monomial, (2, 0), n))


@pytest.mark.parametrize("with_final", [False, True])
def test_expectations_equal_cirq(with_final):
    rng = np.random.default_rng(int(with_final))
    states = random_states(rng, 4)
    final = trailing_permutation(rng) if with_final else None
    observables = Observables(OBSERVABLES, {q: i for i, q in enumerate(QUBITS)}, 3, final)
    assert observables.n_masks == 4  # X on B; X,Y on A,B; Y on C; X on A and C
    result = observables(tf.constant(states), tf.complex128)
    assert result.dtype == tf.float64 and result.shape == [4, len(OBSERVABLES)]
    final_states = states if final is None else final.apply(states)
    qubit_map = {q: i for i, q in enumerate(QUBITS)}
    expected = [[observable.expectation_from_state_vector(state, qubit_map).real
                 for observable in OBSERVABLES] for state in final_states]
    np.testing.assert_allclose(result.numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("with_final", [False, True])
def test_gradient_is_the_observable_applied_to_the_state(with_final):
    # For a real L = <ψ|O|ψ> of a Hermitian O, TensorFlow's gradient with respect to ψ is
    # ∂L/∂Re ψ + i ∂L/∂Im ψ = 2 O ψ: the adjoint gathers must give exactly that.
    rng = np.random.default_rng(2 + int(with_final))
    states = tf.constant(random_states(rng, 2))
    final = trailing_permutation(rng) if with_final else None
    observables = Observables(OBSERVABLES, {q: i for i, q in enumerate(QUBITS)}, 3, final)
    weights = rng.normal(size=len(OBSERVABLES))
    with tf.GradientTape() as tape:
        tape.watch(states)
        loss = tf.reduce_sum(observables(states, tf.complex128) * weights)
    operator = sum(w * observable.matrix(QUBITS) for w, observable in zip(weights, OBSERVABLES))
    if final is not None:  # <Fψ|O|Fψ> = <ψ|F^† O F|ψ>
        matrix = final.apply(np.eye(8, dtype=complex).T).T  # F: column j is F e_j
        operator = matrix.conj().T @ operator @ matrix
    np.testing.assert_allclose(tape.gradient(loss, states).numpy(),
                               2 * states.numpy() @ operator.T, atol=1e-12)

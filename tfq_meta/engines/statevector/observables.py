"""Expectations of Pauli sums on batched state vectors.

Amplitude index ``i`` holds qubit ``a``'s bit at position ``n - 1 - a`` (qubit 0 is the most
significant). Z-only terms are diagonal: all of them in one matmul of the probabilities with
signs ``[2^n, n_observables]``. Any other Pauli string ``P`` acts as ``(Pψ)_i = d_i ψ_{π(i)}``,
``π`` flipping the bits of its X and Y qubits: ``<ψ|P|ψ> = Σ_i conj(ψ_i) d_i ψ_{π(i)}``. There
is one permutation per such bit mask, shared by every term with that mask, so all of them are
one gather and one matmul with weights ``[masks * 2^n, n_observables]`` (the phases ``d`` times
the terms' coefficients).
"""
import cirq
import numpy as np
import tensorflow as tf

from .gather import Gather, gather
from .permutations import Permutation


class Observables:
    """Expectations ``[batch, n_observables]`` of ``observables`` on flat states ``[batch, 2^n]``.

    Args:
        observables: list of ``cirq.PauliSum`` (real coefficients).
        axis: ``{qubit: its axis in the state}``.
        n: the number of qubits.
        final: a :class:`~.permutations.Permutation` (index σ, phases e) still to be applied to
            the states, or None. It is folded into the observables:
            ``<eψ_σ|P|eψ_σ> = Σ_j conj(ψ_j) d'_j ψ_{π'(j)}`` with ``π' = σ π σ⁻¹`` and
            ``d'_j = conj(e_i) d_i e_{π(i)}`` at ``i = σ⁻¹(j)``.
    """

    def __init__(self, observables, axis, n, final=None):
        self.n_observables = len(observables)
        size = 2 ** n
        final = Permutation.identity(n) if final is None else final
        inverse = np.argsort(final.index)
        bits = (np.arange(size)[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1
        self.signs = np.zeros((size, len(observables)))
        masks, weights = {}, []
        for o, observable in enumerate(observables):
            for term in observable:
                paulis = [(axis[q], p) for q, p in term.items()]
                if all(p == cirq.Z for _, p in paulis):
                    parity = bits[:, [a for a, _ in paulis]].sum(axis=1) % 2
                    self.signs[:, o] += term.coefficient.real * (1 - 2 * parity)[inverse]
                    continue
                pauli = _pauli_permutation(paulis, n)
                mask = sum(1 << (n - 1 - a) for a, p in paulis if p != cirq.Z)
                if mask not in masks:
                    masks[mask] = final.index[pauli.index[inverse]]
                    weights.append(np.zeros((size, len(observables)), complex))
                weights[list(masks).index(mask)][:, o] += term.coefficient.real * (
                    np.conj(final.phases) * pauli.phases * final.phases[pauli.index])[inverse]
        self.n_masks = len(masks)
        if masks:
            # Output m * 2^n + j reads amplitude π'_m(j); the π'_m are involutions, so the
            # adjoint reads, for amplitude j, the outputs m * 2^n + π'_m(j) of every m.
            indices = np.stack(list(masks.values()))                         # [M, 2^n]
            self.gather = (Gather(indices.reshape(-1)),
                           Gather((np.arange(len(masks)) * size + indices.T).reshape(-1),
                                  group=len(masks)))
            self.weights = np.concatenate(weights)

    def __call__(self, state, dtype):
        """Expectations (``dtype``'s real dtype) of ``state`` ``[batch, 2^n]`` (complex
        ``dtype``)."""
        probabilities = tf.math.real(state * tf.math.conj(state))
        expectations = tf.matmul(probabilities, tf.constant(self.signs, dtype.real_dtype))
        if not self.n_masks:
            return expectations
        permuted = tf.reshape(gather(state, *self.gather, dtype),
                              [-1, self.n_masks, len(self.signs)])
        products = tf.reshape(permuted * tf.math.conj(state)[:, tf.newaxis],
                              [-1, len(self.weights)])
        return expectations + tf.math.real(tf.matmul(products, tf.constant(self.weights, dtype)))


def _pauli_permutation(paulis, n):
    """The :class:`~.permutations.Permutation` of a Pauli string ``[(axis, cirq.Pauli)]``."""
    permutation = Permutation.identity(n)
    for a, pauli in paulis:
        permutation = permutation.then(Permutation.of_matrix(cirq.unitary(pauli), (a,), n))
    return permutation

"""Constant operations that permute amplitudes and multiply them by phases (NumPy only).

A gate with one nonzero entry per row of its matrix (CNOT, CZ, SWAP, CCX, X, S, T, Pauli
strings, …) maps a state ``ψ`` of ``2^n`` amplitudes to ``(Pψ)_i = phases_i ψ_{index_i}``. On
the whole state that is one gather, and consecutive ones compose into one.

Amplitude index ``i`` holds qubit ``a``'s bit at position ``n - 1 - a``: qubit 0 is the most
significant bit.
"""
import dataclasses

import numpy as np

from .polynomials import TOLERANCE


@dataclasses.dataclass(frozen=True, eq=False)
class Permutation:
    """``(Pψ)_i = phases[i] * ψ[index[i]]`` on a state of ``2^n`` amplitudes: ``index`` int
    ``[2^n]``, ``phases`` complex ``[2^n]``."""

    index: np.ndarray
    phases: np.ndarray

    @classmethod
    def identity(cls, n):
        return cls(np.arange(2 ** n), np.ones(2 ** n, complex))

    @classmethod
    def of_matrix(cls, matrix, axes, n):
        """The permutation of an ``n``-qubit state that a matrix ``[2^k, 2^k]`` on qubits
        ``axes`` (in the matrix's qubit order) is; None unless it has one nonzero per row."""
        nonzero = np.abs(matrix) > TOLERANCE
        if not np.all(nonzero.sum(axis=1) == 1):
            return None
        columns = np.argmax(nonzero, axis=1)
        values = matrix[np.arange(len(matrix)), columns]
        index = np.arange(2 ** n)
        shifts = [n - 1 - a for a in axes]
        local_row = np.zeros_like(index)
        for shift in shifts:
            local_row = (local_row << 1) | ((index >> shift) & 1)
        local_column = columns[local_row]
        for position, shift in enumerate(shifts):
            bit = (local_column >> (len(axes) - 1 - position)) & 1
            index = (index & ~(1 << shift)) | (bit << shift)
        return cls(index, values[local_row])

    def then(self, other):
        """The permutation ``other @ self``: this one first."""
        return Permutation(self.index[other.index], other.phases * self.phases[other.index])

    @property
    def moves_amplitudes(self):
        """False when only the phases change."""
        return not np.array_equal(self.index, np.arange(len(self.index)))

    @property
    def is_identity(self):
        return not self.moves_amplitudes and np.allclose(self.phases, 1, rtol=0, atol=TOLERANCE)

    def apply(self, state):
        """``Pψ`` of a NumPy state ``[..., 2^n]``."""
        return self.phases * state[..., self.index]

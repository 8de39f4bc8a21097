"""Gate matrices as trigonometric polynomials of the gate values (NumPy only).

A parameterized gate of a lowered circuit is an EigenGate whose exponent ``t`` is one gate
symbol: ``U(t) = Σ_j exp(iπ t λ_j) P_j`` over its eigenvalues ``λ_j`` (in half turns) and
eigenprojectors ``P_j``. A product of such matrices is again a sum of ``exp(i ω·t) A`` terms, with
``ω`` a vector of frequencies over the gate-value columns and ``A`` a constant complex matrix.
Pairing ``±ω`` makes the sum real-coefficient, ``Σ cos(ω·t + φ) M`` (:class:`CosineTerm`),
which is the form the engine evaluates: one matmul and one ``cos`` for every term at once.
"""
import dataclasses

import numpy as np

from tfq_meta._compat.cirq import eigen_components

# Matrix entries (and frequencies, see _frequency_key) this small are zeros.
TOLERANCE = 1e-12


@dataclasses.dataclass(frozen=True, eq=False)
class CosineTerm:
    """``cos(ω · t + offset) * matrix``: ``frequencies`` maps gate-value columns to ``ω``
    (empty for the constant term), ``offset`` is 0 or -π/2 (a sine), ``matrix`` complex
    ``[2^k, 2^k]``."""

    frequencies: dict
    offset: float
    matrix: np.ndarray


class Polynomial:
    """A matrix that is a trigonometric polynomial of the gate values ``t``:
    ``Σ_k exp(i ω_k · t) A_k``, stored in ``terms`` as ``{ω_k: A_k}`` with ``ω_k`` a sorted tuple
    of ``(column, frequency)`` pairs (the constant term has ``()``) and ``A_k`` complex
    ``[2^k, 2^k]``."""

    def __init__(self, terms):
        self.terms = terms

    @classmethod
    def of(cls, op, column):
        """The gate of ``op``, up to a global phase: its eigenvalues are shifted to be symmetric
        around 0, because a global phase changes no expectation and a symmetric spectrum pairs
        into fewer cosine terms. ``column`` maps gate-symbol names to gate-value columns."""
        components = eigen_components(op.gate)
        eigenvalues = np.array([theta for theta, _ in components], float)
        eigenvalues -= (eigenvalues.max() + eigenvalues.min()) / 2
        index, terms = column[str(op.gate.exponent)], {}
        for value, (_, projector) in zip(eigenvalues, components):
            key = _frequency_key({index: np.pi * value})
            terms[key] = terms.get(key, 0) + projector
        return cls(terms)

    @classmethod
    def constant(cls, matrix):
        return cls({(): np.asarray(matrix, complex)})

    @property
    def size(self):
        """The matrix dimension, ``2^k`` for ``k`` qubits."""
        return next(iter(self.terms.values())).shape[-1]

    @property
    def support(self):
        """Where the matrix can be nonzero for some gate values: boolean ``[2^k, 2^k]``."""
        return np.any([np.abs(a) > TOLERANCE for a in self.terms.values()], axis=0)

    def times(self, other):
        """The polynomial of ``self @ other``."""
        terms = {}
        for key_a, a in self.terms.items():
            for key_b, b in other.terms.items():
                frequencies = dict(key_a)
                for c, frequency in key_b:
                    frequencies[c] = frequencies.get(c, 0.0) + frequency
                key = _frequency_key(frequencies)
                terms[key] = terms.get(key, 0) + a @ b
        return Polynomial({key: m for key, m in terms.items() if np.abs(m).max() > TOLERANCE})

    def real_terms(self):
        """The matrix as ``Σ cos(ω · t + offset) M``, a list of :class:`CosineTerm`:
        ``exp(iω·t) A + exp(-iω·t) B`` is ``cos(ω·t) (A + B) + sin(ω·t) i(A - B)``, and
        ``sin(x) = cos(x - π/2)``."""
        result, done = [], set()
        for key in self.terms:
            if key in done:
                continue
            negative = tuple((c, -frequency) for c, frequency in key)
            done.update({key, negative})
            if not key:
                result.append(CosineTerm({}, 0.0, self.terms[key]))
                continue
            if key[0][1] < 0:
                key, negative = negative, key
            a, b = self.terms.get(key, 0), self.terms.get(negative, 0)
            result += [CosineTerm(dict(key), 0.0, a + b),
                       CosineTerm(dict(key), -np.pi / 2, 1j * (a - b))]
        return [term for term in result if np.abs(term.matrix).max() > TOLERANCE]

    def matrix(self, gate_values):
        """The complex matrix at ``gate_values`` (one example, ``[n_columns]``), in NumPy."""
        return sum(np.exp(1j * sum(f * gate_values[c] for c, f in key)) * a
                   for key, a in self.terms.items())


def _frequency_key(frequencies):
    """``{column: frequency}`` as a hashable key: sorted, rounded so that sums of the same
    frequencies meet, and without zeros."""
    return tuple(sorted((c, round(f, 10)) for c, f in frequencies.items() if abs(f) > 1e-10))

"""Every gate-value-dependent matrix of a program, batched, in a few TensorFlow ops.

Each :class:`~.compiler.PolynomialStep` is a product of polynomials ``Σ cos(ω·t + φ) M``
(:mod:`.polynomials`), and each example has its own matrices, from its own gate values ``t``.
One matmul turns ``gate_values`` ``[batch, n_gate_symbols]`` into the angles ``ω·t + φ`` of
every term of every polynomial, one cosine (:mod:`.cosine`) gives all coefficients, and one
contraction per matrix size gives every polynomial of every example, as complex
``[batch, 2 (out), …, 2 (in), …]`` (one axis per qubit, out axes first). Single-qubit runs that
are products of several polynomials form a grid ``[position, run]`` (shorter runs padded with
identities): one batched 2x2 product per position multiplies them out.

The polynomials are one einsum under TensorFlow's executor and under XLA alike: XLA makes it a
dot, whose operand, the coefficients, it computes once. As a broadcast product and sum, XLA fused
the angles and their cosines into the product and computed them again for every matrix entry:
the student's meta-steps took 1.2-1.4x as long at 4 and 8 qubits. The runs' products have the two
formulations :mod:`.runtime` explains: einsums for the executor, broadcast products and sums
under XLA.
"""
import numpy as np
import tensorflow as tf

from .compiler import PolynomialStep
from .cosine import cosine
from .polynomials import Polynomial

_LABELS = "acdefghijklmnopqrstuvwxyz"  # "b" is the batch


class BatchedMatrices:
    """The matrices of a program's :class:`~.compiler.PolynomialStep` s, from ``gate_values``.

    Args:
        steps: the program's steps; only the polynomial ones are read, in order.
        n_columns: the number of gate symbols (columns of ``gate_values``).

    The tables, built once in NumPy: ``frequencies`` ``[n_columns, n_terms]`` and ``offsets``
    ``[n_terms]`` give every term's angle; ``matrices`` holds, per group of same-sized
    polynomials, their term matrices as real ``[polynomial, term, 2 (real, imaginary), 2 (out),
    …, 2 (in), …]`` (the coefficients are real); ``split`` is each group's number of terms.
    """

    def __init__(self, steps, n_columns):
        runs, gates, self.order = _by_size(
            [step for step in steps if isinstance(step, PolynomialStep)])
        self.n_runs = len(runs)
        self.length = max((len(run) for run in runs), default=0)
        identity = Polynomial.constant(np.eye(2))
        grid = [run[position] if position < len(run) else identity
                for position in range(self.length) for run in runs]
        self.groups = [group for group in [grid] + [[factors[0] for factors in gates[k]]
                                                     for k in sorted(gates)] if group]
        tables = [_term_table(group) for group in self.groups]
        self.matrices = [matrices for matrices, _, _ in tables]
        self.split = [matrices.shape[0] * matrices.shape[1] for matrices in self.matrices]
        self.offsets = np.array([offset for _, _, offsets in tables for offset in offsets])
        self.frequencies = np.zeros((n_columns, len(self.offsets)))
        terms = (frequencies for _, columns, _ in tables for frequencies in columns)
        for term, frequencies in enumerate(terms):
            for c, frequency in frequencies.items():
                self.frequencies[c, term] = frequency

    def evaluate(self, gate_values, dtype, xla):
        """The batched matrices ``[batch, 2 (out), …, 2 (in), …]`` (complex ``dtype``) of the
        polynomial steps, in program order; ``xla`` picks the formulations of the cosines and
        of the runs' products."""
        if not self.groups:
            return []
        angles = tf.matmul(gate_values, tf.constant(self.frequencies, gate_values.dtype))
        if np.any(self.offsets):
            angles += tf.constant(self.offsets, gate_values.dtype)
        coefficients = cosine(angles, xla)
        parts = (tf.split(coefficients, self.split, axis=1) if len(self.split) > 1
                 else [coefficients])
        matrices = []
        for part, constant in zip(parts, self.matrices):
            matrices += _polynomials(part, tf.constant(constant, dtype.real_dtype))
        if self.length > 1:
            matrices = (tf.unstack(self._run_products(matrices, xla), axis=1)
                        + matrices[self.length * self.n_runs:])
        return [matrices[i] for i in self.order]

    def _run_products(self, matrices, xla):
        """The runs' products, position by position: ``[batch, run, 2, 2]``."""
        positions = [tf.stack(matrices[p * self.n_runs:(p + 1) * self.n_runs], axis=1)
                     for p in range(self.length)]
        product = positions[0]
        for factor in positions[1:]:
            if xla:
                product = tf.reduce_sum(tf.expand_dims(factor, 4) * tf.expand_dims(product, 2),
                                        axis=3)
            else:
                product = tf.einsum("brij,brjk->brik", factor, product)
        return product


def _by_size(steps):
    """The polynomial ``steps``' factors by size: (single-qubit runs, ``{k: k-qubit gates}``,
    the position of each step's matrix in the list evaluate() builds, which holds the runs
    first, then the gates by size)."""
    runs, gates, placed = [], {}, []
    for step in steps:
        k = len(step.axes)
        group = runs if k == 1 else gates.setdefault(k, [])
        placed.append((k, len(group)))
        group.append(step.factors)
    first = {1: 0}
    for k in sorted(gates):
        first[k] = len(runs) + sum(len(gates[j]) for j in gates if j < k)
    return runs, gates, [first[k] + position for k, position in placed]


def _term_table(group):
    """(term matrices ``[polynomial, term, 2, 2 (out), …, 2 (in), …]``, each term's
    ``{column: frequency}``, each term's offset) of same-sized polynomials, padded to the same
    number of terms with zero matrices (``cos(0)`` times 0)."""
    terms = [polynomial.real_terms() for polynomial in group]
    n_terms = max(len(item) for item in terms)
    d = group[0].size
    matrices, columns, offsets = np.zeros((len(group), n_terms, 2, d, d)), [], []
    for g, item in enumerate(terms):
        for t, term in enumerate(item):
            matrices[g, t] = term.matrix.real, term.matrix.imag
        padding = n_terms - len(item)
        columns += [term.frequencies for term in item] + [{}] * padding
        offsets += [term.offset for term in item] + [0.0] * padding
    shape = [len(group), n_terms, 2] + [2] * (2 * int(np.log2(d)))
    return matrices.reshape(shape), columns, offsets


def _polynomials(coefficients, matrices):
    """The complex matrices ``[batch, 2, …]`` of a group's polynomials, one per polynomial, from
    their terms' ``coefficients`` ``[batch, polynomial * term]`` and term ``matrices``."""
    coefficients = tf.reshape(coefficients, [-1, *matrices.shape[:2]])
    labels = _LABELS[:len(matrices.shape) - 3]
    real, imaginary = tf.unstack(tf.einsum(f"bGT,GTC{labels}->CGb{labels}", coefficients,
                                           matrices))
    return tf.unstack(tf.complex(real, imaginary))

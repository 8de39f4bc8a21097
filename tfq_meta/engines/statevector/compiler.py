"""Compiles a lowered circuit into a short program of steps on a state vector (NumPy only).

Input: a lowered ``cirq.Circuit`` (:class:`tfq_meta.lowering.LoweredCircuit`) whose symbolic
parameters are all EigenGate exponents, each one gate symbol; ``gate_symbols`` gives those
symbols' column order in ``gate_values`` ``[batch, n_gate_symbols]``.

Output: a :class:`Program`, a state ``[2^n]`` to start from and a tuple of steps, each a
:class:`PermutationStep`, :class:`ConstantStep` or :class:`PolynomialStep`. The program is kept
short because graph size matters as much as run time: meta-learning differentiates the
evaluation two or three times over, and every op of every derivative is traced and optimized.

* **Single-qubit runs.** Operations on different qubits commute, so each run of single-qubit
  operations on a qubit (up to the next multi-qubit operation on it) is one 2x2 matrix, the gate
  fusion qsim also does: a polynomial expanded in NumPy, constant gates included (an ry-rz-rx
  run has 8 terms), or a product of a few polynomials when longer than ``MAX_TERMS`` terms.
* **Multi-qubit runs.** A multi-qubit operation that follows another on the same qubits, in the
  same order and with nothing else on them between, joins its step while the product has at
  most ``MAX_TERMS`` terms: the ISWAP and ZZ powers of a number-conserving layer are one step.
* **Permutations.** Constant gates with one nonzero entry per row compose into one gather.
  Single-qubit runs may go into any gap between the multi-qubit operations on their qubit; they
  are placed to separate as few permutations as possible, so a CNOT ladder is one gather.
* Constant steps before the first parameterized one are applied to ``|0…0>`` here, and a
  permutation at the end is left to the observables (``Program.final``).

Every step also applies itself to a NumPy state, which defines what the program means: the
TensorFlow runtime must give the same states, up to one global phase per example.
"""
import dataclasses
import functools
from typing import Optional

import cirq
import numpy as np

from .layout import EinsumLayout
from .permutations import Permutation
from .polynomials import Polynomial

# A run of single-qubit gates is one trigonometric polynomial while it has at most this many
# terms (2^L for L rotations), a product of such polynomials when it is longer: beyond that the
# table of terms grows faster than the products it saves. Multi-qubit runs stop there too.
MAX_TERMS = 16


@dataclasses.dataclass(frozen=True, eq=False)
class PermutationStep:
    """A constant permutation with phases of the whole state; ``axes``: the qubits of the gates
    it comes from (empty once composed with others)."""

    axes: tuple
    permutation: Permutation

    def apply(self, state, gate_values=None):
        return self.permutation.apply(state)


@dataclasses.dataclass(frozen=True, eq=False)
class ConstantStep:
    """A constant complex ``matrix`` ``[2^k, 2^k]`` on qubits ``axes`` (in its qubit order)."""

    axes: tuple
    matrix: np.ndarray

    def apply(self, state, gate_values=None):
        return _layout(self.axes, state).apply(self.matrix, state)


@dataclasses.dataclass(frozen=True, eq=False)
class PolynomialStep:
    """A matrix on qubits ``axes`` that depends on the gate values: the product of the
    :class:`Polynomial` ``factors``, the last leftmost."""

    axes: tuple
    factors: tuple

    def matrix(self, gate_values):
        product = np.eye(self.factors[0].size)
        for factor in self.factors:
            product = factor.matrix(gate_values) @ product
        return product

    @functools.cached_property
    def support(self):
        """Where the matrix can be nonzero for some gate values, boolean ``[2^k, 2^k]``: exact
        for one factor, a superset for a product (which cancellations can only shrink)."""
        support = np.eye(self.factors[0].size, dtype=bool)
        for factor in self.factors:
            support = (factor.support.astype(int) @ support.astype(int)) > 0
        return support

    def apply(self, state, gate_values=None):
        return _layout(self.axes, state).apply(self.matrix(gate_values), state)


def _layout(axes, state):
    return EinsumLayout.of(axes, state.shape[-1].bit_length() - 1)


@dataclasses.dataclass(frozen=True, eq=False)
class Program:
    """A compiled circuit on ``n_qubits``: start from ``initial_state`` (complex ``[2^n]``,
    ``|0…0>`` after the circuit's leading constant operations), apply ``steps`` (the first, if
    any, a :class:`PolynomialStep`), then the permutation ``final`` if it is not None."""

    n_qubits: int
    initial_state: np.ndarray
    steps: tuple
    final: Optional[Permutation]

    def state(self, gate_values):
        """The final state ``[2^n]`` at ``gate_values`` ``[n_gate_symbols]``, in NumPy."""
        state = self.initial_state
        for step in self.steps:
            state = step.apply(state, gate_values)
        return state if self.final is None else self.final.apply(state)


def compile_circuit(circuit, qubits, gate_symbols):
    """The :class:`Program` of a lowered ``circuit`` on ``qubits`` (in the order of the state's
    axes), its gate symbols' names in ``gate_symbols`` order."""
    n = len(qubits)
    initial_state, steps = _fold_constant_prefix(schedule(circuit, qubits, gate_symbols), n)
    final = steps.pop().permutation if steps and isinstance(steps[-1], PermutationStep) else None
    return Program(n, initial_state, tuple(steps), final)


def schedule(circuit, qubits, gate_symbols):
    """The circuit as a list of steps, single-qubit runs fused and permutations composed.

    Their product is the circuit's unitary up to a global phase. Multi-qubit operations keep
    their order; each single-qubit run goes into one gap between them (see ``_place_runs``).
    """
    axis = {q: i for i, q in enumerate(qubits)}
    column = {name: k for k, name in enumerate(gate_symbols)}
    multi, runs = _split_runs(circuit, axis, column, len(qubits))
    return _compose_permutations(_interleave(multi, _place_runs(multi, runs)))


@dataclasses.dataclass(frozen=True, eq=False)
class _Run:
    """A fused single-qubit run ``step``: it commutes with everything in gaps ``first`` to
    ``last`` (gap ``g`` comes just before multi-qubit step ``g``), so it may go into any."""

    step: object
    first: int
    last: int


def _split_runs(circuit, axis, column, n):
    """(the multi-qubit steps in circuit order, the single-qubit :class:`_Run` s).

    A multi-qubit operation that follows another on the same qubits, with nothing on those
    qubits between them, joins its step when either is parameterized (see ``_merged``): the
    operations between them act on other qubits, so they commute.
    """
    multi, operations, runs, pending, last = [], [], [], {}, {}

    def run(a, operations):
        return _Run(_step((a,), _fuse(operations), n), last.get(a, -1) + 1, len(multi))

    for op in circuit.all_operations():
        operation = _operation(op, column)
        axes = tuple(axis[q] for q in op.qubits)
        if len(axes) == 1:
            pending.setdefault(axes[0], []).append(operation)
            continue
        previous = last.get(axes[0])
        if (previous is not None and multi[previous].axes == axes
                and all(last[a] == previous and a not in pending for a in axes)):
            merged = _merged(operations[previous], operation)
            if merged is not None:
                operations[previous], multi[previous] = merged, _step(axes, merged, n)
                continue
        for a in axes:
            if a in pending:
                runs.append(run(a, pending.pop(a)))
            last[a] = len(multi)
        multi.append(_step(axes, operation, n))
        operations.append(operation)
    return multi, runs + [run(a, pending[a]) for a in sorted(pending)]


def _merged(first, then):
    """The polynomial of ``then`` after ``first`` (each a Polynomial or a constant matrix) when
    either is a Polynomial and the product has at most ``MAX_TERMS`` terms, else None: a
    two-qubit rotation followed by another on the same pair (ISWAP and ZZ powers in
    number-conserving layers) costs one pass over the state instead of two."""
    if not (isinstance(first, Polynomial) or isinstance(then, Polynomial)):
        return None
    first, then = (factor if isinstance(factor, Polynomial) else Polynomial.constant(factor)
                   for factor in (first, then))
    product = then.times(first)
    return product if len(product.terms) <= MAX_TERMS else None


def _place_runs(multi, runs):
    """The steps of ``runs`` in each gap, ``[len(multi) + 1][steps]``.

    Gaps between two permutations are best left empty, so that those compose. Runs whose whole
    range is such gaps must break some: as few as possible, found by stabbing the ranges sorted
    by their ends. Constant single-qubit permutations join their neighbours instead.
    """
    free = [not (0 < gap < len(multi) and isinstance(multi[gap - 1], PermutationStep)
                 and isinstance(multi[gap], PermutationStep))
            for gap in range(len(multi) + 1)]
    for run in sorted(runs, key=lambda run: run.last):
        if not isinstance(run.step, PermutationStep) and not any(free[run.first:run.last + 1]):
            free[run.last] = True
    gaps = [[] for _ in range(len(multi) + 1)]
    for run in runs:
        if isinstance(run.step, PermutationStep):
            gaps[run.last].append(run.step)
            continue
        # The latest gap for parameterized runs, the earliest for constant ones, which may then
        # join the initial state.
        order = range(run.first, run.last + 1)
        if isinstance(run.step, PolynomialStep):
            order = reversed(order)
        gaps[next(gap for gap in order if free[gap])].append(run.step)
    return gaps


def _interleave(multi, gaps):
    """The steps of every gap, then the multi-qubit step after it."""
    steps = []
    for gap, in_gap in enumerate(gaps):
        # Permutations in a gap commute with its other steps: put them next to a permutation.
        permutations_first = gap > 0 and isinstance(multi[gap - 1], PermutationStep)
        in_gap.sort(key=lambda step: (isinstance(step, PermutationStep) != permutations_first,
                                      step.axes))
        steps += in_gap
        if gap < len(multi):
            steps.append(multi[gap])
    return steps


def _operation(op, column):
    """A constant unitary matrix or a :class:`Polynomial` for ``op``."""
    if cirq.is_parameterized(op):
        return Polynomial.of(op, column)
    if not cirq.has_unitary(op):
        raise ValueError(
            f"The statevector engine cannot simulate {op!r} ({type(op.gate).__name__}): it "
            "has no unitary. Measurements are not part of the circuit: use `repetitions` for "
            "shots; other non-unitary operations need engine='qsim'."
        )
    return cirq.unitary(op)


def _fuse(operations):
    """One matrix for a run of single-qubit operations: a constant, or a tuple of polynomials
    whose product it is (the last leftmost), each as long as MAX_TERMS allows."""
    chunks, current, parameterized = [], Polynomial.constant(np.eye(2)), False
    for operation in operations:
        if isinstance(operation, Polynomial):
            product = operation.times(current)
            if parameterized and len(product.terms) > MAX_TERMS:
                chunks.append(current)
                product = operation
            current, parameterized = product, True
        else:
            current = Polynomial.constant(operation).times(current)
    if not parameterized:
        return current.terms[()]
    return tuple(chunks + [current])


def _step(axes, matrix, n):
    """The step of a matrix on ``axes``: a Polynomial, a tuple of them, or a NumPy constant."""
    if isinstance(matrix, Polynomial):
        return PolynomialStep(axes, (matrix,))
    if isinstance(matrix, tuple):
        return PolynomialStep(axes, matrix)
    permutation = Permutation.of_matrix(matrix, axes, n)
    return ConstantStep(axes, matrix) if permutation is None else PermutationStep(axes, permutation)


def _compose_permutations(steps):
    """Consecutive permutation steps as one; identities dropped."""
    composed = []
    for step in steps:
        if (isinstance(step, PermutationStep) and composed
                and isinstance(composed[-1], PermutationStep)):
            step = PermutationStep((), composed.pop().permutation.then(step.permutation))
        composed.append(step)
    return [step for step in composed
            if not (isinstance(step, PermutationStep) and step.permutation.is_identity)]


def _fold_constant_prefix(steps, n):
    """(initial state ``[2^n]``, remaining steps): constant steps before the first
    parameterized one applied to ``|0…0>``."""
    state = np.zeros(2 ** n, complex)
    state[0] = 1
    for position, step in enumerate(steps):
        if isinstance(step, PolynomialStep):
            return state, steps[position:]
        state = step.apply(state)
    return state, []

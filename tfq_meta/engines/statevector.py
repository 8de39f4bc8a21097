"""The ``statevector`` engine: a batched state vector simulated with plain TensorFlow ops.

The state of a batch is one tensor ``[batch, 2^n]``, viewed around each gate's qubits as
``[batch, 2^a, 2, 2^(n-a-1)]`` (one qubit; two for two-qubit gates). A gate on ``k`` qubits acts
on the ``2^k`` slices of that view along its qubits, through the nonzero entries
of its matrix: a number for a constant gate, a ``[batch]`` tensor for a parameterized one
(elementwise work that XLA fuses). A parameterized gate is an EigenGate with exponent ``t``:
``U(t) = Σ_j exp(iπ t λ_j) P_j`` over its eigenvalues ``λ_j`` (in half turns, global shift
included) and eigenprojectors ``P_j``, so every example gets its own matrix from its own symbol
value. Nothing here is TFQ: TensorFlow differentiates it to any order and XLA compiles it.

For small circuits this beats TFQ's qsim ops by a wide margin, because qsim spends most of its time
on per-circuit setup (DESIGN fact 10); qsim wins again from 13 qubits (bench/bench_engines.py).
"""
import cirq
import numpy as np
import tensorflow as tf

# A state of 2^30 amplitudes per example is beyond any machine's memory for a batch.
MAX_QUBITS = 30


class StatevectorEngine:
    """Expectation values of a lowered circuit by batched state-vector simulation in TensorFlow.

    Args:
        circuit: a lowered ``cirq.Circuit`` (:class:`tfq_meta.lowering.LoweredCircuit`): every
            symbolic parameter is the exponent of an EigenGate, equal to one gate symbol.
        gate_symbols: names of those symbols, in the column order of ``gate_values``.
        observables: list of ``cirq.PauliSum``.
        qubits: the qubits, in the order of the state's axes.
        dtype: ``tf.complex64`` (default) or ``tf.complex128``.

    Raises:
        ValueError: for a gate without a unitary (measurement, noise channel), naming it and
            suggesting ``engine="qsim"``.
    """

    def __init__(self, circuit, gate_symbols, observables, qubits, dtype=tf.complex64):
        self.dtype = tf.as_dtype(dtype)
        self.real_dtype = self.dtype.real_dtype
        self.qubits = list(qubits)
        if len(self.qubits) > MAX_QUBITS:
            raise ValueError(f"The statevector engine simulates at most {MAX_QUBITS} qubits; the "
                             f"circuit has {len(self.qubits)}. Use engine='qsim'.")
        axis = {q: i for i, q in enumerate(self.qubits)}
        column = {name: k for k, name in enumerate(gate_symbols)}
        self._gates = _fuse_and_compile(circuit, axis, column, self.dtype)
        self._z_signs, self._other_terms = _split_observables(observables, axis, len(self.qubits))

    def __call__(self, gate_values):
        """Expectations ``[batch, n_observables]`` of ``gate_values`` ``[batch, n_gate_symbols]``."""
        gate_values = tf.cast(gate_values, self.real_dtype)
        n = len(self.qubits)
        state = self._initial_state(tf.shape(gate_values)[0])
        for entries_of, axes in self._gates:
            state = _apply(state, entries_of(gate_values), axes, n)
        # Z-only terms are diagonal: all of them in one matmul with the probabilities.
        probabilities = tf.math.real(state * tf.math.conj(state))
        expectations = tf.matmul(probabilities, tf.constant(self._z_signs, self.real_dtype))
        others = [sum((coefficient * _pauli_expectation(state, paulis, n, self.dtype)
                       for coefficient, paulis in terms), tf.zeros_like(expectations[:, 0]))
                  for terms in self._other_terms]
        return expectations + tf.stack(others, axis=1)

    def _initial_state(self, batch):
        basis = tf.one_hot(0, 2 ** len(self.qubits), dtype=self.real_dtype)
        return tf.tile(tf.cast(basis, self.dtype)[tf.newaxis], [batch, 1])


def _split_observables(observables, axis, n):
    """(signs [2^n, n_obs] summing every observable's Z-only terms, other terms per observable).

    Amplitude index i has qubit a's bit at position n-1-a (qubit 0 is the most significant).
    """
    bits = (np.arange(2 ** n)[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1
    signs = np.zeros((2 ** n, len(observables)))
    others = [[] for _ in observables]
    for o, observable in enumerate(observables):
        for term in observable:
            paulis = [(axis[q], p) for q, p in term.items()]
            if all(p == cirq.Z for _, p in paulis):
                parity = bits[:, [a for a, _ in paulis]].sum(axis=1) % 2
                signs[:, o] += term.coefficient.real * (1 - 2 * parity)
            else:
                others[o].append((term.coefficient.real, paulis))
    return signs, others


def _fuse_and_compile(circuit, axis, column, dtype):
    """(entries_of(gate_values), qubit axes) per gate, with each run of single-qubit operations on
    a qubit fused into one 2x2 matrix.

    Operations on different qubits commute, so a qubit's pending single-qubit run only has to be
    flushed when a multi-qubit operation touches that qubit (the gate fusion qsim also does).
    """
    gates, pending = [], {}

    def flush(axes):
        for a in axes:
            run = pending.pop(a, [])
            if run:
                makers = [_entries_maker(op, column, dtype) for op in run]
                gates.append((_product_maker(makers), [a]))

    for op in circuit.all_operations():
        axes = [axis[q] for q in op.qubits]
        if len(axes) == 1:
            pending.setdefault(axes[0], []).append(op)
            continue
        flush(axes)
        gates.append((_entries_maker(op, column, dtype), axes))
    flush(sorted(pending))
    return gates


def _entries_maker(op, column, dtype):
    """gate_values -> {(row, col): complex or [batch] tensor}, the op's nonzero matrix entries.

    Only structurally nonzero entries are kept, so a CNOT becomes a pure reordering of slices and
    a CZ or rz a few sign or phase multiplications. A parameterized EigenGate with exponent t has
    entries sum_j exp(iπ t λ_j) P_j[row, col].
    """
    if not cirq.is_parameterized(op):
        if not cirq.has_unitary(op):
            raise ValueError(
                f"The statevector engine cannot simulate {op!r} ({type(op.gate).__name__}): it "
                "has no unitary. Measurements are not part of the circuit: use `repetitions` for "
                "shots; other non-unitary operations need engine='qsim'."
            )
        constant = _constant_entries(cirq.unitary(op))
        return lambda _: constant
    gate = op.gate
    index = column[str(gate.exponent)]
    components = gate._eigen_components()
    eigenvalues = np.array([theta + gate.global_shift for theta, _ in components])
    projectors = np.stack([p for _, p in components])  # [m, d, d]
    nonzero = [tuple(int(i) for i in rc)
               for rc in np.argwhere(np.any(np.abs(projectors) > 1e-12, axis=0))]

    def entries(gate_values):
        angles = np.pi * gate_values[:, index, tf.newaxis] * eigenvalues
        phases = tf.unstack(tf.complex(tf.cos(angles), tf.sin(angles)), len(eigenvalues), axis=1)
        return {(r, c): _weighted_sum(phases, projectors[:, r, c]) for r, c in nonzero}

    return entries


def _weighted_sum(tensors, weights):
    total = None
    for tensor, weight in zip(tensors, weights):
        if abs(weight) > 1e-12:
            term = _times(tensor, complex(weight))
            total = term if total is None else total + term
    return total


def _product_maker(makers):
    """gate_values -> entries of the product of the makers' matrices, the last one leftmost."""
    def entries(gate_values):
        product = makers[0](gate_values)
        for maker in makers[1:]:
            product = _multiply(maker(gate_values), product)
        return product

    return entries if len(makers) > 1 else makers[0]


def _multiply(left, right):
    """Matrix product of two entry dicts, elementwise over the batch."""
    product = {}
    for (i, k), a in left.items():
        for (k2, j), b in right.items():
            if k == k2:
                term = _times(a, b)
                product[(i, j)] = term if (i, j) not in product else product[(i, j)] + term
    return product


def _times(a, b):
    if isinstance(a, complex) and isinstance(b, complex):
        return a * b
    if isinstance(a, complex):
        a, b = b, a
    if isinstance(b, complex):
        if b == 1:
            return a
        return -a if b == -1 else a * tf.constant(b, a.dtype)
    return a * b


def _constant_entries(matrix):
    return {(int(r), int(c)): complex(matrix[r, c])
            for r, c in np.argwhere(np.abs(matrix) > 1e-12)}


def _apply(state, entries, axes, n):
    """Applies a gate, given by its nonzero entries, to qubit ``axes`` of a flat state [B, 2^n].

    The state is viewed as ``[B, 2^a, 2, 2^(b-a-1), 2, …]`` around the gate's qubits only (few
    dimensions keep XLA's loops vectorized), split into the ``2^k`` slices of those qubits, and
    each output slice is the sum of entry * input slice over its row's nonzero entries:
    elementwise work with no transposes. A [batch] entry broadcasts over the slice.
    """
    k = len(axes)
    ordered = sorted(axes)
    view = [-1]
    for previous, a in zip([-1] + ordered, ordered):
        view += [2 ** (a - previous - 1), 2]
    view.append(2 ** (n - 1 - ordered[-1]))
    dims = [2 + 2 * ordered.index(a) for a in axes]
    slices = _split(tf.reshape(state, view), dims)
    rank = len(view) - k
    outputs = []
    for row in range(2 ** k):  # every row of a unitary has a nonzero entry
        terms = [_scale(slices[c], value, rank) for (r, c), value in entries.items() if r == row]
        outputs.append(tf.add_n(terms) if len(terms) > 1 else terms[0])
    return tf.reshape(_merge(outputs, dims), [-1, 2 ** n])


def _scale(tensor, value, rank):
    if isinstance(value, complex):
        return _times(tensor, value)
    return tensor * tf.reshape(value, [-1] + [1] * (rank - 1))


def _split(state, dims):
    """The 2^k slices of ``state`` along ``dims`` (big-endian index order)."""
    slices = [state]
    for position, dim in enumerate(dims):
        # Earlier splits removed one axis each, all before or after `dim`.
        shift = sum(1 for d in dims[:position] if d < dim)
        slices = [half for s in slices for half in tf.unstack(s, num=2, axis=dim - shift)]
    return slices


def _merge(slices, dims):
    """Inverse of :func:`_split`."""
    for position in reversed(range(len(dims))):
        dim = dims[position]
        shift = sum(1 for d in dims[:position] if d < dim)
        slices = [tf.stack(slices[i:i + 2], axis=dim - shift) for i in range(0, len(slices), 2)]
    return slices[0]


def _pauli_expectation(state, paulis, n, dtype):
    """Re <ψ|P|ψ> for a Pauli string P given as [(axis, cirq.X/Y/Z), …]."""
    transformed = state
    for axis, pauli in paulis:
        transformed = _apply(transformed, _constant_entries(cirq.unitary(pauli)), [axis], n)
    return tf.math.real(tf.reduce_sum(tf.math.conj(state) * transformed, axis=1))

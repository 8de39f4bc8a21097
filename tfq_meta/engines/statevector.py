"""The ``statevector`` engine: a batched state vector simulated with plain TensorFlow ops.

The state of a batch is one tensor ``[batch, 2^n]`` (qubit 0 is the most significant bit of an
amplitude's index). The circuit is compiled once, in NumPy, into a short program of a few ops
per step: graph size matters as much as run time, because meta-learning differentiates the
evaluation two or three times over, and every op of every derivative is traced and optimized.

* **Gate matrices as trigonometric polynomials.** A parameterized gate is an EigenGate with
  exponent ``t``: ``U(t) = Σ_j exp(iπ t λ_j) P_j`` over its eigenvalues ``λ_j`` (in half turns)
  and eigenprojectors ``P_j``; global phases do not change expectations, so the eigenvalues are
  shifted to be symmetric around 0. A product of such matrices is again a sum of
  ``exp(i ω·t) A`` terms, and pairing ``±ω`` makes it real-coefficient:
  ``Σ_s cos(ω_s · t + φ_s) M_s`` (``φ_s`` is 0 or -π/2, for sines).
* **Single-qubit runs.** Operations on different qubits commute, so each run of single-qubit
  operations on a qubit (up to the next multi-qubit operation on it) is one 2x2 matrix, the gate
  fusion qsim also does. Its polynomial is expanded in NumPy (constant gates included): an
  ry-rz-rx run has 8 terms, and runs longer than ``MAX_TERMS`` terms are products of a few.
* **All matrices at once.** One matmul turns ``gate_values`` into the angles ``ω_s · t + φ_s`` of
  every term of every matrix, one ``cos`` gives all coefficients, and one contraction per gate
  size gives every matrix of every example (each example has its own matrices, from its own
  symbol values).
* **Applying a matrix** on ``k`` qubits: one reshape of the state to a view with few dimensions,
  ``[batch, 2^a, 2, 2^gap, 2, …, 2^rest]``, and one contraction over its qubits' dimensions
  (a plain batched matmul on the first or last qubit, no transposes).
* **Permutations.** A constant gate with one nonzero entry per row (CNOT, CZ, SWAP, CCX, X, S,
  T, Pauli strings, …) permutes the amplitudes and multiplies them by phases. Consecutive ones
  compose into one ``tf.gather`` (single-qubit runs are scheduled around them where they commute,
  so a CNOT ladder is one gather); its gradient is the adjoint gather, not a scatter.
* Constant operations before the first parameterized one act on the initial state in NumPy;
  a permutation at the end is folded into the observables.
* **Observables.** Z-only terms are diagonal: all of them in one matmul with the probabilities.
  Other Pauli strings ``P`` permute amplitudes too: ``<ψ|P|ψ> = Σ_i conj(ψ_i) d_i ψ_{π(i)}``,
  one gather for all of them and one matmul.

Each contraction has two formulations, picked while tracing. TensorFlow's executor runs few,
large ops best: einsums and batched matmuls. Under XLA (``tf.function(jit_compile=True)``,
Keras' ``jit_compile``) they are broadcast products and sums, which XLA fuses into loops; it
runs small batched complex dots 3-7x slower (measured on CPU).

Nothing here is TFQ: TensorFlow differentiates it to any order and XLA compiles it. For small
circuits this beats TFQ's qsim ops by a wide margin, because qsim spends most of its time on
per-circuit setup (DESIGN fact 10); see bench/bench_engines.py for the crossover.
"""
import cirq
import numpy as np
import tensorflow as tf

try:  # How TensorFlow's own ops tell that they are being compiled by XLA.
    from tensorflow.python.ops.control_flow_util import GraphOrParentsInXlaContext
except ImportError:  # pragma: no cover
    GraphOrParentsInXlaContext = None

# A state of 2^30 amplitudes per example is beyond any machine's memory for a batch.
MAX_QUBITS = 30
# A run of single-qubit gates is one trigonometric polynomial while it has at most this many
# terms (2^L for L rotations), a product of such polynomials when it is longer.
MAX_TERMS = 16
_TOLERANCE = 1e-12


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
        self.n_qubits = n = len(self.qubits)
        if n > MAX_QUBITS:
            raise ValueError(f"The statevector engine simulates at most {MAX_QUBITS} qubits; the "
                             f"circuit has {n}. Use engine='qsim'.")
        axis = {q: i for i, q in enumerate(self.qubits)}
        column = {name: k for k, name in enumerate(gate_symbols)}
        steps = _schedule(circuit, axis, column, n)
        self._initial_state, steps = _fold_constant_prefix(steps, n)
        self._final = steps.pop()[2] if steps and steps[-1][0] == "gather" else None
        self._program, self._table = steps, _MatrixTable(steps, len(gate_symbols))
        self._observables = _Observables(observables, axis, n, self._final)

    def __call__(self, gate_values):
        """Expectations ``[batch, n_observables]`` of ``gate_values`` ``[batch, n_gate_symbols]``."""
        state = self._simulate(gate_values)
        expectations = self._observables(state.flat(), self.dtype)
        if not state.batched:  # a circuit without parameters
            expectations = tf.broadcast_to(
                expectations, [tf.shape(gate_values)[0], self._observables.n_observables])
        return expectations

    def states(self, gate_values):
        """Final states ``[batch, 2^n]`` of ``gate_values``, up to a global phase per example
        (eigenvalues are shifted, see the module docstring); differentiable to any order."""
        state = self._simulate(gate_values)
        if self._final is not None:
            state.gather(self._final)
        if not state.batched:
            return tf.broadcast_to(state.flat(), [tf.shape(gate_values)[0], 2 ** self.n_qubits])
        return state.flat()

    def _simulate(self, gate_values):
        gate_values = tf.cast(gate_values, self.real_dtype)
        xla = GraphOrParentsInXlaContext is not None and GraphOrParentsInXlaContext(
            tf.compat.v1.get_default_graph())
        batched = iter(self._table.evaluate(gate_values, self.dtype, xla))
        state = _State(self._initial_state, self.n_qubits, self.dtype, xla)
        for kind, axes, source in self._program:
            if kind == "gather":
                state.gather(source)
            else:
                state.apply(source if isinstance(source, np.ndarray) else next(batched), axes)
        return state


# --- Compilation: circuit -> steps --------------------------------------------------------------
#
# A step is ("gather", axes, (index, phases)) for a permutation with phases of the whole state,
# or ("matrix", axes, M) for a matrix on the qubit axes `axes` (in the matrix's qubit order),
# where M is a NumPy array (constant) or a tuple of _Polynomial (their product, the last
# leftmost).


class _Polynomial:
    """A matrix that is a trigonometric polynomial of the gate values ``t``:
    ``Σ_k exp(i ω_k · t) A_k``, stored as ``{ω_k: A_k}`` with ``ω_k`` a sorted tuple of
    ``(column, frequency)`` pairs (the constant term has ``()``)."""

    def __init__(self, terms):
        self.terms = terms

    @classmethod
    def of(cls, op, column):
        """The gate of ``op``, up to a global phase: eigenvalues shifted to be symmetric."""
        components = op.gate._eigen_components()
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
        return _Polynomial({key: m for key, m in terms.items() if np.abs(m).max() > _TOLERANCE})

    def real_terms(self):
        """``[(ω as {column: frequency}, offset, M)]``, the matrix being
        ``Σ cos(ω · t + offset) M``: ``exp(iω·t) A + exp(-iω·t) B`` is
        ``cos(ω·t) (A + B) + sin(ω·t) i(A - B)``, and ``sin(x) = cos(x - π/2)``."""
        result, done = [], set()
        for key in self.terms:
            if key in done:
                continue
            negative = tuple((c, -frequency) for c, frequency in key)
            done.update({key, negative})
            if not key:
                result.append(({}, 0.0, self.terms[key]))
                continue
            if key[0][1] < 0:
                key, negative = negative, key
            a, b = self.terms.get(key, 0), self.terms.get(negative, 0)
            result += [(dict(key), 0.0, a + b), (dict(key), -np.pi / 2, 1j * (a - b))]
        return [(frequencies, offset, matrix) for frequencies, offset, matrix in result
                if np.abs(matrix).max() > _TOLERANCE]


def _frequency_key(frequencies):
    return tuple(sorted((c, round(f, 10)) for c, f in frequencies.items() if abs(f) > 1e-10))


def _operation(op, column):
    """A constant unitary matrix or a :class:`_Polynomial` for ``op``."""
    if cirq.is_parameterized(op):
        return _Polynomial.of(op, column)
    if not cirq.has_unitary(op):
        raise ValueError(
            f"The statevector engine cannot simulate {op!r} ({type(op.gate).__name__}): it "
            "has no unitary. Measurements are not part of the circuit: use `repetitions` for "
            "shots; other non-unitary operations need engine='qsim'."
        )
    return cirq.unitary(op)


def _schedule(circuit, axis, column, n):
    """The circuit as a list of steps, single-qubit runs fused and permutations composed.

    Multi-qubit operations keep their order. A run of single-qubit operations on a qubit may go
    into any gap between the multi-qubit operations on that qubit before and after it (it commutes
    with everything else there). Runs are placed to separate as few consecutive permutations as
    possible, which then compose into one gather: the CNOT ladders between the rotation layers
    of a hardware-efficient ansatz become one gather per layer.
    """
    multi, runs, pending, last = [], [], {}, {}
    for op in circuit.all_operations():
        operation = _operation(op, column)
        axes = [axis[q] for q in op.qubits]
        if len(axes) == 1:
            pending.setdefault(axes[0], []).append(operation)
            continue
        for a in axes:
            if a in pending:
                runs.append((a, pending.pop(a), last.get(a, -1) + 1, len(multi)))
            last[a] = len(multi)
        multi.append(_step(axes, operation, n))
    runs += [(a, pending[a], last.get(a, -1) + 1, len(multi)) for a in sorted(pending)]

    # Gaps between two permutations are best left empty. Runs whose whole range is such gaps
    # must break some: as few as possible, found by stabbing the ranges sorted by their ends.
    free = [not (0 < gap < len(multi) and multi[gap - 1][0] == multi[gap][0] == "gather")
            for gap in range(len(multi) + 1)]
    steps = [(_step([a], _fuse(operations), n), first, last_gap)
             for a, operations, first, last_gap in runs]
    for step, first, last_gap in sorted(steps, key=lambda entry: entry[2]):
        if step[0] != "gather" and not any(free[first:last_gap + 1]):
            free[last_gap] = True
    gaps = [[] for _ in range(len(multi) + 1)]
    for step, first, last_gap in steps:
        if step[0] == "gather":  # a constant single-qubit permutation: it joins its neighbours
            gaps[last_gap].append(step)
            continue
        # The latest gap for parameterized runs, the earliest for constant ones, which may then
        # join the initial state.
        order = range(first, last_gap + 1)
        gaps[next(g for g in (reversed(order) if isinstance(step[2], tuple) else order)
                  if free[g])].append(step)
    steps = []
    for gap, in_gap in enumerate(gaps):
        # Permutations in a gap commute with its other steps: put them next to a permutation.
        permutations_first = gap > 0 and multi[gap - 1][0] == "gather"
        in_gap.sort(key=lambda step: ((step[0] == "gather") != permutations_first, step[1]))
        steps += in_gap
        if gap < len(multi):
            steps.append(multi[gap])
    return _compose_permutations(steps)


def _fuse(operations):
    """One matrix for a run of single-qubit operations: a constant, or a tuple of polynomials
    whose product it is (the last leftmost), each as long as MAX_TERMS allows."""
    chunks, current, parameterized = [], _Polynomial.constant(np.eye(2)), False
    for operation in operations:
        if isinstance(operation, _Polynomial):
            product = operation.times(current)
            if parameterized and len(product.terms) > MAX_TERMS:
                chunks.append(current)
                product = operation
            current, parameterized = product, True
        else:
            current = _Polynomial.constant(operation).times(current)
    if not parameterized:
        return current.terms[()]
    return tuple(chunks + [current])


def _step(axes, matrix, n):
    if isinstance(matrix, _Polynomial):
        return ("matrix", axes, (matrix,))
    if isinstance(matrix, tuple):
        return ("matrix", axes, matrix)
    permutation = _as_permutation(matrix, axes, n)
    return ("matrix", axes, matrix) if permutation is None else ("gather", axes, permutation)


def _as_permutation(matrix, axes, n):
    """(index, phases) with ``(M ψ)_i = phases_i ψ_{index_i}`` over the whole state, for a matrix
    on ``axes`` with one nonzero entry per row; None for any other matrix."""
    nonzero = np.abs(matrix) > _TOLERANCE
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
    return index, values[local_row]


def _compose_permutations(steps):
    """Consecutive gathers as one; identities dropped."""
    composed = []
    for step in steps:
        if step[0] == "gather" and composed and composed[-1][0] == "gather":
            (index_a, phases_a), (index_b, phases_b) = composed.pop()[2], step[2]
            step = ("gather", None, (index_a[index_b], phases_b * phases_a[index_b]))
        composed.append(step)
    return [step for step in composed if not (
        step[0] == "gather" and np.array_equal(step[2][0], np.arange(len(step[2][0])))
        and np.allclose(step[2][1], 1, rtol=0, atol=_TOLERANCE))]


def _fold_constant_prefix(steps, n):
    """(initial state as a NumPy vector, remaining steps): constant steps before the first
    parameterized one are applied to |0…0> in NumPy."""
    state = np.zeros(2 ** n, complex)
    state[0] = 1
    for position, (kind, axes, source) in enumerate(steps):
        if kind == "gather":
            index, phases = source
            state = phases * state[index]
        elif isinstance(source, np.ndarray):
            view, state_labels, matrix_labels, output_labels = _einsum_layout(axes, n)
            state = np.einsum(f"{matrix_labels},{state_labels}->{output_labels}",
                              source.reshape([2] * (2 * len(axes))),
                              state.reshape(view)).reshape(-1)
        else:
            return state, steps[position:]
    return state, []


# --- Batched matrices ---------------------------------------------------------------------------


class _MatrixTable:
    """Every batched matrix of the program from ``gate_values``, in a few ops for all of them.

    The matrices are grouped by size; single-qubit runs that are products of several polynomials
    form a grid ``[position, run]`` (shorter runs padded with identities). One matmul and one cos
    give the coefficients of every term, one contraction per group the polynomials, and each
    position of the grid one batched 2x2 product.
    """

    def __init__(self, steps, n_columns):
        runs, gates, placed = [], {}, []
        for kind, axes, source in steps:
            if kind == "matrix" and isinstance(source, tuple):
                group = runs if len(axes) == 1 else gates.setdefault(len(axes), [])
                placed.append((len(axes), len(group)))
                group.append(source)
        # Where evaluate() computes the matrix of each batched step, in program order.
        first = {1: 0}
        for k in sorted(gates):
            first[k] = len(runs) + sum(len(gates[j]) for j in gates if j < k)
        self.order = [first[k] + position for k, position in placed]
        self.n_runs = len(runs)
        self.length = max((len(run) for run in runs), default=0)
        identity = _Polynomial.constant(np.eye(2))
        grid = [run[position] if position < len(run) else identity
                for position in range(self.length) for run in runs]
        self.groups = [group for group in [grid] + [[gate[0] for gate in gates[k]]
                                                     for k in sorted(gates)] if group]
        self.split, self.matrices, columns, offsets = [], [], [], []
        for group in self.groups:
            terms = [polynomial.real_terms() for polynomial in group]
            n_terms = max(len(item) for item in terms)
            d = next(iter(group[0].terms.values())).shape[-1]
            # [polynomial, term, real and imaginary part, 2 (out) …, 2 (in) …]: the
            # coefficients are real.
            matrices = np.zeros((len(group), n_terms, 2, d, d))
            for g, item in enumerate(terms):
                for t, (frequencies, offset, matrix) in enumerate(item):
                    matrices[g, t] = matrix.real, matrix.imag
                item += [({}, 0.0, None)] * (n_terms - len(item))  # padding: cos(0) times 0
                columns += [frequencies for frequencies, _, _ in item]
                offsets += [offset for _, offset, _ in item]
            self.split.append(len(group) * n_terms)
            self.matrices.append(matrices.reshape([len(group), n_terms, 2]
                                                  + [2] * (2 * int(np.log2(d)))))
        self.frequencies = np.zeros((n_columns, len(columns)))
        for term, frequencies in enumerate(columns):
            for c, frequency in frequencies.items():
                self.frequencies[c, term] = frequency
        self.offsets = np.array(offsets)

    def evaluate(self, gate_values, dtype, xla):
        """The batched matrices ``[batch, 2 (out), …, 2 (in), …]`` of the steps, in order."""
        if not self.groups:
            return []
        angles = tf.matmul(gate_values, tf.constant(self.frequencies, gate_values.dtype))
        if np.any(self.offsets):
            angles += tf.constant(self.offsets, gate_values.dtype)
        coefficients = tf.cos(angles)
        parts = (tf.split(coefficients, self.split, axis=1) if len(self.split) > 1
                 else [coefficients])
        matrices = []
        for part, constant in zip(parts, self.matrices):
            n_matrix_axes = constant.ndim - 3
            constant = tf.constant(constant, dtype.real_dtype)
            if xla:  # [batch, polynomial, term, 1, …] * [polynomial, term, part, …]
                part = tf.reshape(part, [-1, *constant.shape[:2]] + [1] * (n_matrix_axes + 1))
                real, imaginary = tf.unstack(tf.reduce_sum(part * constant, axis=2), axis=2)
                polynomials = tf.unstack(tf.complex(real, imaginary), axis=1)
            else:
                part = tf.reshape(part, [-1, *constant.shape[:2]])
                labels = "acdefghijklmnopqrstuvwxyz"[:n_matrix_axes]
                real, imaginary = tf.unstack(tf.einsum(f"bGT,GTC{labels}->CGb{labels}", part,
                                                       constant))
                polynomials = tf.unstack(tf.complex(real, imaginary))
            matrices += polynomials
        if self.length > 1:  # The run products, position by position: [batch, run, 2, 2].
            positions = [tf.stack(matrices[p * self.n_runs:(p + 1) * self.n_runs], axis=1)
                         for p in range(self.length)]
            product = positions[0]
            for factor in positions[1:]:
                if xla:
                    product = tf.reduce_sum(tf.expand_dims(factor, 4)
                                            * tf.expand_dims(product, 2), axis=3)
                else:
                    product = tf.einsum("brij,brjk->brik", factor, product)
            matrices = tf.unstack(product, axis=1) + matrices[self.length * self.n_runs:]
        return [matrices[i] for i in self.order]


# --- Running --------------------------------------------------------------------------------------


class _State:
    """The simulated state during one call: a NumPy constant until the first batched step, then a
    tensor ``[batch, *view]``, reshaped only when a step needs another view."""

    def __init__(self, initial, n, dtype, xla):
        self.n, self.dtype, self.xla = n, dtype, xla
        self.value, self.view, self.batched = initial, (2 ** n,), False
        self._shapes = {}

    def _as(self, view):
        """The state as ``[batch, *view]`` (``[1, *view]`` while it is a constant)."""
        if not self.batched:
            return tf.constant(np.reshape(self.value, (1,) + view), self.dtype)
        if view != self.view:
            self.value, self.view = tf.reshape(self.value, self._shape(view)), view
        return self.value

    def _shape(self, dims):
        """``[-1, *dims]`` as a tensor, one constant per shape and call."""
        if dims not in self._shapes:
            self._shapes[dims] = tf.constant((-1,) + dims)
        return self._shapes[dims]

    def flat(self):
        return self._as((2 ** self.n,))

    def apply(self, matrix, axes):
        """Applies ``matrix``, ``[batch, 2 (out), …, 2 (in), …]`` or a constant ``[2^k, 2^k]``,
        to qubit ``axes`` (in the matrix's qubit order)."""
        view, state_labels, matrix_labels, output_labels = _einsum_layout(axes, self.n)
        constant = isinstance(matrix, np.ndarray)
        if self.xla:
            # matrix [(batch,) …, out, in, …] at its qubits' view dims, the state
            # [batch, …, 1, in, …]: their product summed over the in dims.
            qubits = [state_labels.index(label) for label in matrix_labels[len(axes):]]
            transpose = [p for q in np.argsort(qubits) for p in (q, q + len(axes))]
            shape, expanded, sums = [], [], []
            for position, size in enumerate(view):
                if position in qubits:
                    shape += [2, 2]
                    expanded += [1, 2]
                    sums.append(len(expanded))  # the in dim, counting the batch dim
                else:
                    shape.append(1)
                    expanded.append(size)
            if constant:
                matrix = tf.constant(np.transpose(matrix.reshape([2] * (2 * len(axes))),
                                                  transpose).reshape(shape), self.dtype)
            else:
                if transpose != sorted(transpose):
                    matrix = tf.transpose(matrix, [0] + [p + 1 for p in transpose])
                matrix = tf.reshape(matrix, self._shape(tuple(shape)))
            if self.batched:  # any view reshapes to this one: row-major order is kept
                state = tf.reshape(self.value, self._shape(tuple(expanded)))
            else:
                state = tf.constant(np.reshape(self.value, [1] + expanded), self.dtype)
            self.value = tf.reduce_sum(matrix * state, axis=sums)
        elif len(axes) == 1 and axes[0] in (0, self.n - 1):
            # One batched matmul with no transposes, on the first or the last qubit: TensorFlow
            # runs it several times faster than an einsum, which transposes the state.
            first = axes[0] == 0
            view = (2, 2 ** (self.n - 1)) if first else (2 ** (self.n - 1), 2)
            state = self._as(view) if self.batched else tf.constant(
                self.value.reshape(view), self.dtype)
            if constant:
                matrix = tf.constant(matrix if first else matrix.T, self.dtype)
            elif not first:
                matrix = tf.linalg.matrix_transpose(matrix)
            self.value = tf.matmul(matrix, state) if first else tf.matmul(state, matrix)
        else:
            state = self._as(view) if self.batched else tf.constant(
                self.value.reshape(view), self.dtype)
            if constant:
                matrix = tf.constant(matrix.reshape([2] * (2 * len(axes))), self.dtype)
                equation = f"{matrix_labels},b{state_labels}->b{output_labels}"
            else:
                batch = "b" if self.batched else ""
                equation = f"b{matrix_labels},{batch}{state_labels}->b{output_labels}"
            self.value = tf.einsum(equation, matrix, state)
        self.view, self.batched = view, True

    def gather(self, permutation):
        index, phases = permutation
        inverse = np.argsort(index)
        if np.array_equal(index, inverse) and np.array_equal(index, np.arange(len(index))):
            index = inverse = None  # phases only
        adjoint_phases = np.conj(phases) if inverse is None else np.conj(phases)[inverse]
        self.value = _gather(self.flat(), (index, phases, 1), (inverse, adjoint_phases, 1),
                             self.dtype)


def _einsum_layout(axes, n):
    """(view, state labels, matrix labels, output labels) to apply a matrix on ``axes`` (in the
    matrix's qubit order) to a state viewed as ``[2^a, 2, 2^gap, 2, …, 2^rest]`` (dimensions of
    size 1 left out)."""
    letters = iter("acdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    inputs = {a: next(letters) for a in sorted(axes)}
    outputs = {a: next(letters) for a in axes}
    view, state_labels, output_labels, previous = [], "", "", -1
    for a in sorted(axes) + [n]:
        if a - previous > 1:
            view.append(2 ** (a - previous - 1))
            label = next(letters)
            state_labels, output_labels = state_labels + label, output_labels + label
        if a < n:
            view.append(2)
            state_labels, output_labels = state_labels + inputs[a], output_labels + outputs[a]
        previous = a
    matrix_labels = "".join(outputs[a] for a in axes) + "".join(inputs[a] for a in axes)
    return tuple(view), state_labels, matrix_labels, output_labels


def _gather(state, forward, adjoint, dtype):
    """``state[:, index] * phases`` summed over groups of ``group`` consecutive outputs, for
    ``forward = (index or None for all in order, phases or None, group)``. Its gradient is the
    ``adjoint`` gather, which has this one as gradient: differentiable to any order, and much
    cheaper than the scatter of ``tf.gather``'s own gradient."""

    @tf.custom_gradient
    def gather(value):
        index, phases, group = forward
        result = value if index is None else tf.gather(value, index, axis=1)
        if phases is not None and not np.allclose(phases, 1, rtol=0, atol=_TOLERANCE):
            result = result * tf.constant(phases, dtype)
        if group > 1:
            result = tf.reduce_sum(tf.reshape(result, [-1, len(index) // group, group]), axis=2)
        return result, lambda upstream: _gather(upstream, adjoint, forward, dtype)

    return gather(state)


# --- Observables ----------------------------------------------------------------------------------


class _Observables:
    """Expectations of Pauli sums on flat states ``[batch, 2^n]``.

    Amplitude index i has qubit a's bit at position n-1-a (qubit 0 is the most significant).
    Z-only terms are diagonal: signs ``[2^n, n_obs]`` for a matmul with the probabilities. Any
    other Pauli string acts as ``(P ψ)_i = d_i ψ_{π(i)}``, ``π`` flipping the bits of its X and Y
    qubits: one permutation per such mask, shared by all terms with that mask, and the phases
    ``d`` times the coefficients go into weights ``[masks * 2^n, n_obs]``.

    ``final`` (index σ, phases e), a permutation at the end of the circuit, is folded in:
    ``<eψ_σ|P|eψ_σ> = Σ_j conj(ψ_j) d'_j ψ_{π'(j)}`` with ``π' = σ π σ⁻¹`` and
    ``d'_j = conj(e_i) d_i e_{π(i)}`` at ``i = σ⁻¹(j)``.
    """

    def __init__(self, observables, axis, n, final=None):
        self.n_observables = len(observables)
        size = 2 ** n
        index, phases = final if final is not None else (np.arange(size), np.ones(size))
        inverse = np.argsort(index)
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
                term_index, term_phases = np.arange(size), np.ones(size, complex)
                for a, pauli in paulis:
                    step_index, step_phases = _as_permutation(cirq.unitary(pauli), [a], n)
                    term_index, term_phases = (term_index[step_index],
                                               step_phases * term_phases[step_index])
                mask = sum(1 << (n - 1 - a) for a, p in paulis if p != cirq.Z)
                if mask not in masks:
                    masks[mask] = index[term_index[inverse]]
                    weights.append(np.zeros((size, len(observables)), complex))
                weights[list(masks).index(mask)][:, o] += term.coefficient.real * (
                    np.conj(phases) * term_phases * phases[term_index])[inverse]
        self.n_masks = len(masks)
        if masks:
            # Output m * 2^n + j reads amplitude π'_m(j); the π'_m are involutions, so the
            # adjoint reads, for amplitude j, the outputs m * 2^n + π'_m(j) of every m.
            indices = np.stack(list(masks.values()))                         # [M, 2^n]
            self.gather = ((indices.reshape(-1), None, 1),
                           ((np.arange(len(masks)) * size + indices.T).reshape(-1), None,
                            len(masks)))
            self.weights = np.concatenate(weights)

    def __call__(self, state, dtype):
        # Z-only terms: all of them in one matmul with the probabilities.
        probabilities = tf.math.real(state * tf.math.conj(state))
        expectations = tf.matmul(probabilities, tf.constant(self.signs, dtype.real_dtype))
        if not self.n_masks:
            return expectations
        permuted = tf.reshape(_gather(state, *self.gather, dtype),
                              [-1, self.n_masks, len(self.signs)])
        products = tf.reshape(permuted * tf.math.conj(state)[:, tf.newaxis],
                              [-1, len(self.weights)])
        return expectations + tf.math.real(tf.matmul(products, tf.constant(self.weights, dtype)))

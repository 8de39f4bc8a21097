"""The engine: a compiled program run on a batched state vector in TensorFlow ops.

The state of a batch is one complex tensor ``[batch, 2^n]`` (qubit 0 the most significant bit
of an amplitude's index), viewed between steps with as few dimensions as each step needs
(:mod:`.layout`). A matrix on ``k`` qubits is one contraction with the state; a permutation is
one gather (:mod:`.gather`).

Each contraction has two formulations, picked while tracing. TensorFlow's executor runs few,
large ops best: einsums and batched matmuls. Under XLA (``tf.function(jit_compile=True)``,
Keras' ``jit_compile``) every output slice is a sum of input slices times matrix entries, all
elementwise, which XLA fuses into one loop per step; it runs small batched complex dots 3-7x
slower, and a product followed by a sum as two kernels (measured on CPU).
"""
import numpy as np
import tensorflow as tf

from tfq_meta._compat.tensorflow import in_xla_context

from .compiler import ConstantStep, PermutationStep, compile_circuit
from .gather import permute
from .layout import EinsumLayout
from .matrices import BatchedMatrices
from .observables import Observables

# A state of 2^30 amplitudes per example is beyond any machine's memory for a batch.
MAX_QUBITS = 30
# Halvings of a gate matrix's gradient sum under XLA (see _partial_sums).
PARTIAL_SUMS = 3


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
        ValueError: for more than ``MAX_QUBITS`` qubits, or a gate without a unitary
            (measurement, noise channel), naming it and suggesting ``engine="qsim"``.
    """

    def __init__(self, circuit, gate_symbols, observables, qubits, dtype=tf.complex64):
        self.dtype = tf.as_dtype(dtype)
        self.real_dtype = self.dtype.real_dtype
        self.qubits = list(qubits)
        self.n_qubits = n = len(self.qubits)
        if n > MAX_QUBITS:
            raise ValueError(f"The statevector engine simulates at most {MAX_QUBITS} qubits; the "
                             f"circuit has {n}. Use engine='qsim'.")
        self.program = compile_circuit(circuit, self.qubits, gate_symbols)
        self._matrices = BatchedMatrices(self.program.steps, len(gate_symbols))
        axis = {q: i for i, q in enumerate(self.qubits)}
        self._observables = Observables(observables, axis, n, self.program.final)

    def __call__(self, gate_values):
        """Expectations ``[batch, n_observables]`` (the real dtype) of ``gate_values``
        ``[batch, n_gate_symbols]``."""
        state = self._simulate(gate_values)
        expectations = self._observables(state.flat(), self.dtype)
        if not state.batched:  # a circuit without parameters
            expectations = tf.broadcast_to(
                expectations, [tf.shape(gate_values)[0], self._observables.n_observables])
        return expectations

    def states(self, gate_values):
        """Final states ``[batch, 2^n]`` of ``gate_values``, up to a global phase per example
        (eigenvalues are shifted, see :mod:`.polynomials`); differentiable to any order."""
        state = self._simulate(gate_values)
        if self.program.final is not None:
            state.permute(self.program.final)
        if not state.batched:
            return tf.broadcast_to(state.flat(), [tf.shape(gate_values)[0], 2 ** self.n_qubits])
        return state.flat()

    def _simulate(self, gate_values):
        gate_values = tf.cast(gate_values, self.real_dtype)
        xla = in_xla_context()
        batched = iter(self._matrices.evaluate(gate_values, self.dtype, xla))
        state = BatchedState(self.program.initial_state, self.n_qubits, self.dtype, xla)
        for step in self.program.steps:
            if isinstance(step, PermutationStep):
                state.permute(step.permutation)
            elif isinstance(step, ConstantStep):
                state.apply(step.matrix, step.axes)
            else:
                state.apply(next(batched), step.axes, step.support)
        return state


class BatchedState:
    """The simulated state during one call: a NumPy constant ``[2^n]`` until the first batched
    step, then a tensor ``[batch, *view]``, reshaped only when a step needs another view."""

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

    def permute(self, permutation):
        self.value = permute(self.flat(), permutation, self.dtype)

    def apply(self, matrix, axes, support=None):
        """Applies ``matrix``, ``[batch, 2 (out), …, 2 (in), …]`` or a NumPy constant
        ``[2^k, 2^k]``, to qubits ``axes`` (in the matrix's qubit order). ``support``, boolean
        ``[2^k, 2^k]``, says which entries of a batched matrix can be nonzero."""
        layout = EinsumLayout.of(axes, self.n)
        if self.xla:
            self.value, self.view = self._xla_product(matrix, axes, layout, support), layout.view
        elif len(axes) == 1 and axes[0] in (0, self.n - 1):
            self.value, self.view = self._matmul(matrix, axes[0] == 0)
        else:
            self.value, self.view = self._einsum(matrix, axes, layout), layout.view
        self.batched = True

    def _xla_product(self, matrix, axes, layout, support):
        """The XLA formulation: each output slice (one per value of the matrix's qubits) is a
        sum of input slices times the matrix's entries, all elementwise, so XLA emits one fused
        loop per step. A product-then-reduce formulation costs a materialized product and a
        separate reduction kernel per step, which XLA's CPU backend does not fuse (1.7x slower
        forward at 8 qubits). Entries outside a batched matrix's ``support`` are skipped, which
        shortens both the loop and XLA's compile time (a two-qubit ISWAP power has 6 of 16)."""
        dims = [layout.state_labels.index(label) + 1 for label in layout.matrix_labels[len(axes):]]
        state = self._as(layout.view)
        if isinstance(matrix, np.ndarray):
            return _sliced_product(state, _constant_entries(matrix, self.dtype), dims)
        return _batched_gate(state, matrix, dims, support)

    def _matmul(self, matrix, first):
        """(the state, its view) after one batched matmul with no transposes, on the first or
        the last qubit: TensorFlow runs it several times faster than an einsum, which transposes
        the state. The view keeps both dimensions, even of size 1 for one qubit."""
        view = (2, 2 ** (self.n - 1)) if first else (2 ** (self.n - 1), 2)
        state = self._as(view) if self.batched else tf.constant(self.value.reshape(view),
                                                                self.dtype)
        if isinstance(matrix, np.ndarray):
            matrix = tf.constant(matrix if first else matrix.T, self.dtype)
        elif not first:
            matrix = tf.linalg.matrix_transpose(matrix)
        return (tf.matmul(matrix, state) if first else tf.matmul(state, matrix)), view

    def _einsum(self, matrix, axes, layout):
        state = self._as(layout.view) if self.batched else tf.constant(
            self.value.reshape(layout.view), self.dtype)
        if isinstance(matrix, np.ndarray):
            matrix = tf.constant(matrix.reshape([2] * (2 * len(axes))), self.dtype)
            batch = ""
        else:
            batch = "b"
        state_batch = "b" if self.batched else ""
        equation = (f"{batch}{layout.matrix_labels},{state_batch}{layout.state_labels}"
                    f"->b{layout.output_labels}")
        return tf.einsum(equation, matrix, state)


def _unstacked(state, dims):
    """``{bits: slice}``: ``state`` at every value of its size-2 dims ``dims`` (bits in the
    order of ``dims``), those dims removed."""
    # From the last dim, so that the earlier ones keep their positions.
    slices = {(None,) * len(dims): state}
    for level in np.argsort(dims)[::-1]:
        slices = {bits[:level] + (bit,) + bits[level + 1:]: part
                  for bits, value in slices.items()
                  for bit, part in enumerate(tf.unstack(value, axis=dims[level]))}
    return slices


def _stacked(slices, dims):
    """The inverse of :func:`_unstacked`."""
    # By ascending dim, so that each new axis lands at its final position.
    for level in np.argsort(dims):
        slices = {bits[:level] + (None,) + bits[level + 1:]: tf.stack(
                      [value, slices[bits[:level] + (1,) + bits[level + 1:]]], axis=dims[level])
                  for bits, value in slices.items() if bits[level] == 0}
    return next(iter(slices.values()))


def _constant_entries(matrix, dtype):
    """``{(out bits…, in bits…): entry}`` of a NumPy matrix ``[2^k, 2^k]``: None for an entry
    equal to 1, False for 0, else a constant."""
    k = matrix.shape[0].bit_length() - 1
    values = matrix.reshape([2] * (2 * k))
    return {key: False if values[key] == 0 else None if values[key] == 1
            else tf.constant(values[key], dtype) for key in np.ndindex(*values.shape)}


def _sliced_product(state, entries, dims):
    """The matrix of ``entries`` (:func:`_constant_entries`, or tensors that broadcast against
    the slices) applied to ``state`` at its size-2 dims ``dims``, slice by slice."""
    inputs, k = _unstacked(state, dims), len(dims)
    outputs = {}
    for out in np.ndindex(*[2] * k):
        terms = [inputs[bits] if entries[out + bits] is None else entries[out + bits]
                 * inputs[bits] for bits in inputs if entries[out + bits] is not False]
        outputs[out] = tf.add_n(terms) if len(terms) > 1 else terms[0]
    return _stacked(outputs, dims)


def _batched_gate(state, matrix, dims, support):
    """A batched matrix ``[batch, 2 (out), …, 2 (in), …]`` applied to ``state`` at ``dims`` (in
    the matrix's qubit order), with a hand-written gradient that is again differentiable. Its
    entries outside ``support`` (boolean ``[2^k, 2^k]``) are known to be zero and skipped.

    Autodiff of the sliced product would reduce each entry's gradient on its own: 4^k small
    reductions per step, which double XLA's compile time. Here the state's gradient is the
    adjoint gate, sliced again, and the matrix's is one product and sum over the other dims.
    """
    k = len(dims)
    rank = len(state.shape) - k

    @tf.custom_gradient
    def gate(state, matrix):
        entries = tf.unstack(tf.reshape(matrix, [-1, 4 ** k] + [1] * (rank - 1)), axis=1)
        result = _sliced_product(state, {key: entry if nonzero else False for key, entry, nonzero
                                         in zip(np.ndindex(*[2] * (2 * k)), entries,
                                                support.reshape(-1))}, dims)

        def gradient(upstream):
            state_gradient = _batched_gate(upstream, _adjoint(matrix), dims, support.T)
            return _unbroadcast(state_gradient, state), _outer_sum(upstream, state, dims)

        return result, gradient

    return gate(state, matrix)


def _adjoint(matrix):
    """The conjugate transposes of batched matrices ``[batch, 2 (out), …, 2 (in), …]``."""
    k = (len(matrix.shape) - 1) // 2
    return tf.math.conj(tf.transpose(matrix, [0, *range(k + 1, 2 * k + 1), *range(1, k + 1)]))


def _unbroadcast(gradient, state):
    """``gradient`` ``[batch, …]`` of ``state``, summed over the batch if ``state`` is the
    initial state ``[1, …]``, which broadcasts over it."""
    if state.shape[0] == 1:
        return tf.reduce_sum(gradient, axis=0, keepdims=True)
    return gradient


def _outer_sum(upstream, state, dims):
    """``Σ upstream[…, out, …] conj(state[…, in, …])`` over every dim but the batch and
    ``dims``: ``[batch, 2 (out), …, 2 (in), …]``, qubits in the order of ``dims``.

    Its gradient is two gate applications, again differentiable: the cotangent matrix applied to
    ``state`` and its adjoint to ``upstream``. Autodiff of the product and sum gave broadcast
    products and sums again, in which 8-qubit MAML meta-steps took 1.25x as long.
    """
    k = len(dims)
    everywhere = np.ones((2 ** k, 2 ** k), bool)

    @tf.custom_gradient
    def outer_sum(upstream, state):
        def gradient(cotangent):
            state_gradient = _batched_gate(upstream, _adjoint(cotangent), dims, everywhere)
            return (_batched_gate(state, cotangent, dims, everywhere),
                    _unbroadcast(state_gradient, state))

        return _summed_products(upstream, state, dims), gradient

    return outer_sum(upstream, state)


def _summed_products(upstream, state, dims):
    """:func:`_outer_sum`'s value."""
    up_shape, state_shape, sums = [-1], [-1], []
    for dim, size in enumerate(upstream.shape[1:], start=1):
        if dim in dims:
            up_shape, state_shape = up_shape + [2, 1], state_shape + [1, 2]
        else:
            sums.append(len(up_shape))
            up_shape, state_shape = up_shape + [size], state_shape + [size]
    product = tf.reshape(upstream, up_shape) * tf.math.conj(tf.reshape(state, state_shape))
    product = tf.reduce_sum(_partial_sums(product, sums), axis=sums)
    # [batch, (out, in) per dim in ascending order] -> [batch, outs, ins] in the order of dims.
    rank = np.argsort(np.argsort(dims))
    return tf.transpose(product, [0, *(1 + 2 * rank), *(2 + 2 * rank)])


def _partial_sums(product, sums):
    """``product`` with its dims ``sums`` shortened by adding halves, up to ``PARTIAL_SUMS``
    times, leaving at least 2 terms to sum.

    XLA fuses each sum into the loop that computes its consumer, where it adds the terms of one
    output in order, a chain of dependent additions (reassociating them needs fast math):
    latency, not arithmetic, bounds it. Halves added first make that chain 8 times shorter:
    4- to 10-qubit forward + gradient steps took 8-19 % less time (more halvings took longer at
    8 qubits).
    """
    terms = int(np.prod([product.shape[axis] for axis in sums]))
    for _ in range(min(PARTIAL_SUMS, max(terms.bit_length() - 2, 0))):
        axis = max(sums, key=lambda axis: product.shape[axis])
        first, second = tf.split(product, 2, axis=axis)
        product = first + second
    return product

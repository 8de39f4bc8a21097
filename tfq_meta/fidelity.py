"""State fidelities of a parameterized circuit: the op behind quantum kernels.

``CircuitFidelity(circuit, symbols)`` computes ``F[i, j] = |⟨ψ(a_i)|ψ(b_j)⟩|²`` for two batches
of symbol values, where ``ψ(v)`` is the state the circuit prepares from ``|0…0⟩``. Two methods:

* ``"statevector"``: simulate the ``N + M`` states once (the batched TensorFlow state vector of
  :mod:`tfq_meta.engines.statevector`) and take all overlaps in one complex matmul, ``N + M``
  simulations instead of ``N · M`` overlap circuits. Exact autodiff gradients to any order, so
  kernels built on it can be trained.
* ``"pairwise"``: TensorFlow Quantum's ``tfq.math.fidelity`` on every pair, in blocks of rows,
  each state simulated by qsim. Needs memory for a few states only; no gradients.

``"auto"`` picks the state vector while a chunk of states fits in memory comfortably (up to
:data:`AUTO_STATEVECTOR_MAX_QUBITS` qubits), and pairwise beyond.
"""
import cirq
import tensorflow as tf
import tensorflow_quantum as tfq

from tfq_meta._validation import check_choice
from tfq_meta.engines import qsim, statevector
from tfq_meta.lowering import LoweredCircuit
from tfq_meta.ops import check_memory, statevector_max_batch

METHODS = ("auto", "statevector", "pairwise")
STATE_DTYPES = ("complex64", "complex128")
# 2^20 amplitudes are 8 MiB per state in complex64: chunks of hundreds of states still fit.
AUTO_STATEVECTOR_MAX_QUBITS = 20
# Circuits per tfq.math.fidelity call (rows x M "other programs"): qsim holds them all parsed,
# about 12 kB each at 6 qubits.
PAIRWISE_CIRCUITS_PER_CALL = 10_000


class CircuitFidelity:
    """Fidelities ``|⟨ψ(a_i)|ψ(b_j)⟩|²`` of the states a circuit prepares from two batches of values.

    Args:
        circuit: a ``cirq.Circuit`` with sympy symbols (exponents may be expressions, as for
            :class:`tfq_meta.ops.CircuitExpectation`); no measurements or noise.
        symbols: ordered symbols (or names) matching the columns of the symbol values.
        method: ``"auto"``, ``"statevector"`` or ``"pairwise"`` (module docstring).
        state_dtype: ``"complex64"`` or ``"complex128"`` (statevector only).

    Example:
    >>> import numpy as np, sympy
    >>> x = sympy.Symbol("x")
    >>> fidelity = CircuitFidelity(cirq.Circuit(cirq.rx(x)(cirq.LineQubit(0))), [x])
    >>> values = tf.constant([[0.0], [np.pi / 2], [np.pi]])
    >>> fidelity(values).numpy().round(6)          # cos²((x - x') / 2)
    array([[1. , 0.5, 0. ],
           [0.5, 1. , 0.5],
           [0. , 0.5, 1. ]], dtype=float32)
    """

    def __init__(self, circuit, symbols, method="auto", state_dtype="complex64"):
        if not isinstance(circuit, cirq.Circuit):
            raise TypeError(f"`circuit` must be a cirq.Circuit; got {type(circuit).__name__}.")
        self.qubits = sorted(circuit.all_qubits())
        self.symbols = [cirq.to_sympy_symbol(s) if isinstance(s, str) else s for s in symbols]
        self.state_dtype = check_choice(state_dtype, STATE_DTYPES, "state_dtype")
        check_choice(method, METHODS, "method")
        self._lowered = LoweredCircuit(circuit, self.symbols)
        n_operations = len(list(self._lowered.circuit.all_operations()))
        n_qubits = len(self.qubits)
        if method == "auto":
            method = "statevector" if n_qubits <= AUTO_STATEVECTOR_MAX_QUBITS else "pairwise"
        if method == "pairwise" and state_dtype == "complex128":
            raise ValueError("`state_dtype='complex128'` needs method='statevector'; TFQ's qsim "
                             "simulates in complex64.")
        self.method = method
        if method == "statevector":
            # Raises, saying how much memory one state needs, when not even one fits.
            self._chunk = statevector_max_batch(n_qubits, n_operations, state_dtype)
            self._engine = statevector.StatevectorEngine(
                self._lowered.circuit, self._lowered.gate_symbols, [], self.qubits,
                tf.as_dtype(state_dtype))
        else:
            check_memory(n_qubits)
            qsim.check_gates(self._lowered.circuit)
            self._program = tfq.convert_to_tensor([self._lowered.circuit])
            self._symbol_names = tf.constant(self._lowered.gate_symbols, tf.string)

    @property
    def output_dtype(self):
        return tf.float64 if self.state_dtype == "complex128" else tf.float32

    def states(self, symbol_values):
        """States ``[batch, 2^n]`` (statevector method), each up to a global phase."""
        if self.method != "statevector":
            raise ValueError("states() needs method='statevector'; this fidelity is pairwise.")
        gate_values = self._gate_values(symbol_values)
        n_rows = gate_values.shape[0]
        if n_rows is None or n_rows <= self._chunk:
            return self._engine.states(gate_values)
        # More states than fit at once (with their gradient tape): simulate them in chunks.
        return tf.concat([self._engine.states(gate_values[start:start + self._chunk])
                          for start in range(0, n_rows, self._chunk)], axis=0)

    def __call__(self, a_values, b_values=None):
        """``[N, M]`` fidelities of rows of ``a_values`` ``[N, n_symbols]`` against rows of
        ``b_values`` ``[M, n_symbols]`` (default ``a_values``: a symmetric Gram matrix)."""
        a_values = tf.cast(a_values, self.output_dtype)
        b_values = a_values if b_values is None else tf.cast(b_values, self.output_dtype)
        if self.method == "statevector":
            a_states = self.states(a_values)
            b_states = a_states if b_values is a_values else self.states(b_values)
            overlaps = tf.matmul(a_states, b_states, adjoint_b=True)
            return tf.math.real(overlaps * tf.math.conj(overlaps))
        return self._pairwise(a_values, b_values)

    def _gate_values(self, symbol_values):
        return self._lowered.gate_values(tf.cast(symbol_values, self.output_dtype))

    def _pairwise(self, a_values, b_values):
        """tfq.math.fidelity over blocks of rows; the B circuits resolved once."""
        a_gates = tf.cast(self._gate_values(a_values), tf.float32)
        b_gates = tf.cast(self._gate_values(b_values), tf.float32)
        n_a, n_b = a_gates.shape[0], b_gates.shape[0]
        if n_a is None or n_b is None:
            raise ValueError("method='pairwise' needs the numbers of rows when it is traced: call "
                             "the kernel eagerly or with static shapes, or use "
                             "method='statevector'.")
        others = tfq.resolve_parameters(tf.tile(self._program, [n_b]), self._symbol_names,
                                        b_gates)
        # qsim parses every circuit of a call before simulating: bound the circuits per call.
        block = max(1, PAIRWISE_CIRCUITS_PER_CALL // max(1, n_b))
        rows = [tfq.math.fidelity(tf.tile(self._program, [len(part)]), self._symbol_names,
                                  part, tf.tile(others[tf.newaxis], [len(part), 1]))
                for part in (a_gates[start:start + block] for start in range(0, n_a, block))]
        return _without_gradient(tf.cast(tf.concat(rows, axis=0), self.output_dtype))


@tf.custom_gradient
def _without_gradient(fidelities):
    """The pairwise Gram matrix, whose gradient is refused: the B side is resolved without
    gradients and TFQ 0.7.6's fidelity gradient fails on N x M outputs."""
    def refuse(upstream):
        raise ValueError("method='pairwise' has no gradients; use method='statevector' to "
                         "train a kernel.")
    return tf.identity(fidelities), refuse

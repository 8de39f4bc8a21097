"""State fidelities of a parameterized circuit: the computation behind quantum kernels.

``CircuitFidelity(circuit, symbols)`` computes ``F[i, j] = |⟨ψ(a_i)|ψ(b_j)⟩|²`` for two batches
of symbol values, where ``ψ(v)`` is the state the circuit prepares from ``|0…0⟩``. The circuit is
compiled once (:class:`tfq_meta.ops.CompiledCircuit`); two methods compute on it:

* ``"statevector"``: the ``N + M`` states from :meth:`CompiledCircuit.states` (in chunks that fit
  in memory, whatever the batch size) and all overlaps in one complex matmul, ``N + M``
  simulations instead of ``N · M`` overlap circuits. Exact autodiff gradients to any order, so
  kernels built on it can be trained.
* ``"pairwise"``: TensorFlow Quantum's ``tfq.math.fidelity`` on every pair, in blocks of rows,
  each state simulated by qsim. Needs memory for a few states only; no gradients.

``"auto"`` picks the state vector while a chunk of states fits in memory comfortably (up to
:data:`FIDELITY_STATEVECTOR_MAX_QUBITS` qubits), and pairwise beyond; where TensorFlow Quantum is
missing, the state vector as long as one state fits, and else it raises
:class:`tfq_meta._tfq.TensorFlowQuantumMissing`, like ``"pairwise"`` does.
"""
import tensorflow as tf

from tfq_meta import _tfq
from tfq_meta._validation import check_choice
from tfq_meta.memory import check_qsim_memory
from tfq_meta.ops import CompiledCircuit

METHODS = ("auto", "statevector", "pairwise")
# Fidelities need states, not gradients through a long tape of them: 2^20 amplitudes are 8 MiB per
# state in complex64, so chunks of hundreds of states still fit. (Expectations cross over to qsim
# much earlier, at ops.EXPECTATION_STATEVECTOR_MAX_QUBITS, where qsim becomes faster.)
FIDELITY_STATEVECTOR_MAX_QUBITS = 20
# Circuits per tfq.math.fidelity call (rows x M "other programs"): qsim holds them all parsed,
# about 12 kB each at 6 qubits.
PAIRWISE_CIRCUITS_PER_CALL = 10_000


class CircuitFidelity:
    """Fidelities ``|⟨ψ(a_i)|ψ(b_j)⟩|²`` of the states a circuit prepares from two batches of
    values.

    Args:
        circuit: a ``cirq.Circuit`` with sympy symbols (exponents may be expressions, as for
            :class:`tfq_meta.ops.CompiledCircuit`); no measurements or noise.
        symbols: ordered symbols (or names) matching the columns of the symbol values.
        method: ``"auto"``, ``"statevector"`` or ``"pairwise"`` (module docstring).
        state_dtype: ``"complex64"`` or ``"complex128"`` (statevector only).

    Example:
    >>> import cirq, numpy as np, sympy
    >>> x = sympy.Symbol("x")
    >>> fidelity = CircuitFidelity(cirq.Circuit(cirq.rx(x)(cirq.LineQubit(0))), [x])
    >>> values = tf.constant([[0.0], [np.pi / 2], [np.pi]])
    >>> fidelity(values).numpy().round(6)          # cos²((x - x') / 2)
    array([[1. , 0.5, 0. ],
           [0.5, 1. , 0.5],
           [0. , 0.5, 1. ]], dtype=float32)
    """

    def __init__(self, circuit, symbols, method="auto", state_dtype="complex64"):
        # Fidelities need states only, which the statevector engine computes whatever the method.
        self.compiled = CompiledCircuit(circuit, symbols, engine="statevector",
                                        state_dtype=state_dtype)
        check_choice(method, METHODS, "method")
        self.qubits, self.symbols = self.compiled.qubits, self.compiled.symbols
        self.state_dtype = state_dtype
        n_qubits = len(self.qubits)
        if method == "auto":
            method = self._auto_method(n_qubits)
        if method == "pairwise" and state_dtype == "complex128":
            raise ValueError("`state_dtype='complex128'` needs method='statevector'; TFQ's qsim "
                             "simulates in complex64.")
        self.method = method
        lowered = self.compiled.lowered
        if method == "statevector":
            self.compiled.prepare_states()
        else:
            self._tfq = _tfq.require("method='pairwise'")
            from tfq_meta.engines import qsim  # imports TFQ, required just above

            check_qsim_memory(n_qubits)
            qsim.check_gates(lowered.circuit)
            self._program = self._tfq.convert_to_tensor([lowered.circuit])
            self._symbol_names = tf.constant(lowered.gate_symbols, tf.string)

    def _auto_method(self, n_qubits):
        """``"statevector"`` or ``"pairwise"`` for ``method="auto"`` (module docstring)."""
        if n_qubits <= FIDELITY_STATEVECTOR_MAX_QUBITS:
            return "statevector"
        if _tfq.available():
            return "pairwise"
        try:
            self.compiled.prepare_states()
        except ValueError as error:
            # A circuit qsim cannot hold either fails on memory: TFQ would not help.
            check_qsim_memory(n_qubits)
            _tfq.require(f"method='auto' on this circuit of {n_qubits} qubits, whose states do "
                         f"not fit in memory for the statevector method ({error})")
        return "statevector"

    @property
    def output_dtype(self):
        return self.compiled.output_dtype

    def states(self, symbol_values):
        """States ``[batch, 2^n]`` (statevector method), each up to a global phase."""
        if self.method != "statevector":
            raise ValueError("states() needs method='statevector'; this fidelity is pairwise.")
        return self.compiled.states(symbol_values)

    def __call__(self, a_values, b_values=None):
        """``[N, M]`` fidelities of rows of ``a_values`` ``[N, n_symbols]`` against rows of
        ``b_values`` ``[M, n_symbols]`` (default ``a_values``: a symmetric Gram matrix)."""
        a_values = tf.cast(a_values, self.output_dtype)
        b_values = a_values if b_values is None else tf.cast(b_values, self.output_dtype)
        if self.method == "statevector":
            a_states = self.states(a_values)
            b_states = a_states if b_values is a_values else self.states(b_values)
            return overlaps_squared(a_states, b_states)
        return self._pairwise(a_values, b_values)

    def _pairwise(self, a_values, b_values):
        """tfq.math.fidelity over blocks of rows; the B circuits resolved once."""
        a_gates = tf.cast(self.compiled.gate_values(a_values), tf.float32)
        b_gates = tf.cast(self.compiled.gate_values(b_values), tf.float32)
        n_a, n_b = a_gates.shape[0], b_gates.shape[0]
        if n_a is None or n_b is None:
            raise ValueError("method='pairwise' needs the numbers of rows when it is traced: call "
                             "the kernel eagerly or with static shapes, or use "
                             "method='statevector'.")
        tfq = self._tfq
        others = tfq.resolve_parameters(tf.tile(self._program, [n_b]), self._symbol_names,
                                        b_gates)
        # qsim parses every circuit of a call before simulating: bound the circuits per call.
        block = max(1, PAIRWISE_CIRCUITS_PER_CALL // max(1, n_b))
        rows = [tfq.math.fidelity(tf.tile(self._program, [len(part)]), self._symbol_names,
                                  part, tf.tile(others[tf.newaxis], [len(part), 1]))
                for part in (a_gates[start:start + block] for start in range(0, n_a, block))]
        return _without_gradient(tf.cast(tf.concat(rows, axis=0), self.output_dtype))


def overlaps_squared(a, b):
    """``|⟨a_i|b_j⟩|²`` of batched states ``[..., N, D]`` and ``[..., M, D]``: ``[..., N, M]``."""
    overlaps = tf.matmul(a, b, adjoint_b=True)
    return tf.math.real(overlaps * tf.math.conj(overlaps))


@tf.custom_gradient
def _without_gradient(fidelities):
    """The pairwise Gram matrix, whose gradient is refused: the B side is resolved without
    gradients and TFQ 0.7.6's fidelity gradient fails on N x M outputs."""
    def refuse(upstream):
        raise ValueError("method='pairwise' has no gradients; use method='statevector' to "
                         "train a kernel.")
    return tf.identity(fidelities), refuse

"""The ``qsim`` engine: TensorFlow Quantum's ops, differentiable to any order.

Forward passes run TFQ's qsim ops: exact expectations, sampled ones (``repetitions`` shots) and
noisy ones (Monte-Carlo trajectories). Given a Cirq backend (:mod:`tfq_meta.backends`), they run
TFQ's ops for that backend instead, and everything below holds unchanged.

Every op call, forward or gradient, goes through :meth:`QsimEngine._chunked`, which sends a batch
as op calls of at most :data:`CHUNK_SIZE` circuits. A TFQ op first builds every circuit of its
batch (parsed program, symbol map, qsim gates and their fusion; the adjoint gradient also a fused
circuit per gate), about 0.5–0.9 MB per circuit, and only then simulates them: a gradient call on
160 circuits adds 80–140 MB at its peak, the second order's ``2 · n_gates`` shifted circuits per
example 360 MB for 8 examples at 8 qubits, all of it written, read back and freed on every call.
Chunks keep each call's working set at 10–20 MB: the same work takes less CPU time. They do not
add parallelism (each op already spreads its circuits over TensorFlow's threads), and chunks run
concurrently were no faster, so they run in turn.

Gradients: no TFQ differentiator gives second-order gradients, so the op is wrapped
in two custom gradients. The first-order gradient is the chosen TFQ differentiator's (adjoint by
default: exact and fast). Its own gradient — what MAML's outer loop needs — comes from writing the
same first-order gradient *in the graph* as the two-term parameter-shift rule

    dE/dt_k = π/2 · [E(t + ½ e_k) − E(t − ½ e_k)]

over every gate exponent ``t_k`` (half turns) at once, as one batch of ``2 · n_gates``
shifted circuits per example, which is again this differentiable expectation; so any order works.
The rule is exact for gates whose eigenvalues differ by 0 or 1 half turn (rx/ry/rz, X/Y/Z/H
powers, CNOT/CZ/SWAP powers, XX/YY/ZZ powers); other parameterized gates (e.g. ISWAP powers) get
first-order gradients and a clear error at second order.
"""
import math

import cirq
import numpy as np
import tensorflow as tf

from tfq_meta import _tfq
from tfq_meta._compat.cirq import eigen_components
from tfq_meta._compat.tfq import upstream_scale
from tfq_meta.noise_channels import CHANNELS, is_noisy

tfq = _tfq.require("engine='qsim'")

DIFFERENTIATORS = {
    "adjoint": tfq.differentiators.Adjoint,
    "parameter_shift": tfq.differentiators.ParameterShift,
    "finite_difference": lambda: tfq.differentiators.CentralDifference(grid_spacing=1e-3),
}
SUPPORTED_GATES = tuple({type(gate) for gate in tfq.util.get_supported_gates()})
# Circuits per op call (why: the module docstring). Chunks of 4, 8, 16 and 32 against one call
# per batch (reuploading circuits, 2 cores shared with other work): 8 was best or within noise of
# the best everywhere; 4 lost 17 % at 14 qubits. bench/bench_qsim_chunks.py, one call / chunks of
# 8, batch 160: forward 1.7x at 8 qubits, 1.4x at 12, 1.2x at 14; forward + adjoint gradient
# 1.4x, 1.2x, and even at 14 (0.94-1.06x over runs); second order 1.4x at 8 qubits (batch 8),
# even at 12 (batch 2). Peak memory: 5-6x lower for gradients, 10-30x for second orders.
CHUNK_SIZE = 8


class QsimEngine:
    """Expectation values of a lowered circuit on TFQ's qsim ops.

    Args:
        circuit: a lowered ``cirq.Circuit`` (noise channels included), parameterized only by
            ``gate_symbols`` as EigenGate exponents.
        gate_symbols: symbol names, in the column order of ``gate_values``.
        observables: list of ``cirq.PauliSum``.
        differentiator: ``"adjoint"``, ``"parameter_shift"`` or ``"finite_difference"``: the
            first-order gradient.
        samples: ``None`` for exact expectations, else shots (sampled) or trajectories (noisy)
            per circuit and observable.
        sampled: True for shot-based expectations.
        backend: ``None`` for qsim, or a Cirq backend that runs every evaluation (a
            ``cirq.Sampler`` when ``sampled``, else a ``cirq.SimulatesExpectationValues``);
            it simulates the circuit's noise channels itself.
    """

    def __init__(self, circuit, gate_symbols, observables, differentiator, samples=None,
                 sampled=False, backend=None):
        check_gates(circuit)
        self.noisy = is_noisy(circuit)
        self.samples = samples
        self._n_gates = len(gate_symbols)
        self._n_observables = len(observables)
        # Kept as NumPy and made constants where they are used: an eager tensor captured by the
        # custom gradients below breaks TensorFlow's gradient of a while loop around them
        # (MetaLearner.fit on MAML: "... is in list of internal_captures but not in
        # internal_capture_to_output", TF 2.18); a constant inside the graph does not.
        self._program = tfq.convert_to_tensor([circuit]).numpy()
        self._operators = tfq.convert_to_tensor([observables]).numpy()
        self._symbol_names = np.array(list(gate_symbols), object)
        self._differentiator = DIFFERENTIATORS[differentiator]()
        self._forward_op = self._tfq_op(sampled, backend)
        # Registers the forward op with the differentiator, which its gradient methods use.
        self._differentiator.generate_differentiable_op(
            **({"sampled_op": self._forward_op} if samples else {"analytic_op": self._forward_op}))
        self.second_order_blocker = _gate_without_shift_rule(circuit)

    def __call__(self, gate_values, data_circuits=None):
        """Expectations ``[batch, n_observables]`` (float32), differentiable to any order."""
        gate_values = tf.cast(gate_values, tf.float32)
        programs = tf.constant(self._program)
        if data_circuits is not None:
            programs = tfq.append_circuit(
                data_circuits, tf.tile(programs, tf.shape(data_circuits)[:1]))
        return self._expectation(programs, gate_values)

    def _tfq_op(self, sampled, backend):
        if backend is not None:
            return (tfq.get_sampled_expectation_op(backend=backend) if sampled
                    else tfq.get_expectation_op(backend=backend))
        if self.noisy:
            return tfq.noise.sampled_expectation if sampled else tfq.noise.expectation
        return tfq.get_sampled_expectation_op() if sampled else tfq.get_expectation_op()

    def _chunked(self, op, programs, rows, width):
        """``op(*self._arguments(programs, rows[0]), *rows[1:])`` ``[batch, width]``, in op calls
        of at most :data:`CHUNK_SIZE` circuits: the one place the engine calls TFQ.

        ``rows`` are tensors sharing the batch dimension, the gate values first (the
        differentiators also take the forward values and the upstream gradient). Row ``i`` runs
        ``programs[i % len(programs)]``: the model circuit alone (one program), or one program
        per example repeated over the second order's shifted copies, so no batch-sized copy of
        the serialized programs is made. The batch may be unknown until run time, and 0.
        """
        batch = tf.shape(rows[0])[0]

        def call(values, indices):
            """The op on ``values``, the rows ``indices`` of ``rows``."""
            chunk_programs = tf.gather(programs, indices % tf.shape(programs)[0])
            return op(*self._arguments(chunk_programs, values[0]), *values[1:])

        def whole_batch():
            return call(rows, tf.range(batch))

        def padded_chunk(start):
            indices = tf.range(start, tf.minimum(start + CHUNK_SIZE, batch))
            result = call([tf.gather(tensor, indices) for tensor in rows], indices)
            # map_fn stacks equal shapes: the last chunk is padded, the padding cut below.
            return tf.pad(result, [[0, CHUNK_SIZE - tf.shape(result)[0]], [0, 0]])

        def chunks():
            # A while loop rather than tf.split: it takes batches unknown when tracing. One chunk
            # at a time: concurrent chunks were no faster, and in turn they bound the memory.
            results = tf.map_fn(
                padded_chunk, tf.range(0, batch, CHUNK_SIZE), parallel_iterations=1,
                fn_output_signature=tf.TensorSpec([CHUNK_SIZE, width], tf.float32))
            return tf.reshape(results, [-1, width])[:batch]

        # A batch of one chunk is one call: the loop costs ~0.1 ms, a third of a small call.
        static_batch = rows[0].shape[0]
        if static_batch is not None:
            return whole_batch() if static_batch <= CHUNK_SIZE else chunks()
        return tf.cond(batch <= CHUNK_SIZE, whole_batch, chunks)

    def _arguments(self, programs, gate_values):
        """The TFQ op's inputs ``programs, symbol names, values, operators[, samples]``."""
        batch = tf.shape(programs)[0]
        arguments = [programs, tf.constant(self._symbol_names, tf.string), gate_values,
                     tf.tile(tf.constant(self._operators), [batch, 1])]
        if self.samples:
            arguments.append(tf.fill([batch, self._n_observables], self.samples))
        return arguments

    def _expectation(self, programs, gate_values):
        @tf.custom_gradient
        def expectation(values):
            # stop_gradient: the forward ops have no gradients; tapes must only see this function.
            result = self._chunked(self._forward_op, programs, [tf.stop_gradient(values)],
                                   self._n_observables)
            return result, lambda upstream: self._first_order(programs, values, upstream, result)

        return expectation(gate_values)

    def _first_order(self, programs, gate_values, upstream, forward):
        @tf.custom_gradient
        def vector_jacobian_product(values, upstream):
            gradient = self._chunked(
                self._differentiate, programs,
                [tf.stop_gradient(t) for t in (values, forward, upstream)], self._n_gates)

            def second_order(downstream):
                if self.second_order_blocker is not None:
                    raise ValueError(
                        f"Second-order gradients on engine='qsim' use the two-term parameter-shift "
                        f"rule, which does not hold for {self.second_order_blocker!r} (its "
                        "eigenvalues differ by other than 0 or 1 half turn). Use "
                        "engine='statevector' (autodiff to any order) or a first-order method."
                    )
                with tf.GradientTape() as tape:
                    tape.watch([values, upstream])
                    shifted = self._shift_rule_product(programs, values, upstream)
                return tape.gradient(shifted, [values, upstream], output_gradients=downstream)

            return gradient, second_order

        return vector_jacobian_product(gate_values, upstream)

    def _differentiate(self, *arguments_forward_upstream):
        """The TFQ differentiator's ``upstream · dE/dvalues`` ``[batch, n_gates]``, linear in
        ``upstream`` (see :func:`tfq_meta._compat.tfq.upstream_scale`)."""
        *arguments, forward, upstream = arguments_forward_upstream
        scale = upstream_scale(upstream)
        differentiate = (self._differentiator.differentiate_sampled if self.samples else
                         self._differentiator.differentiate_analytic)
        return differentiate(*arguments, forward, upstream * scale) / scale

    def _shift_rule_product(self, programs, gate_values, upstream):
        """upstream · dE/dvalues by the parameter-shift rule, as differentiable graph ops."""
        n, batch = self._n_gates, tf.shape(gate_values)[0]
        shifts = 0.5 * tf.eye(n, dtype=gate_values.dtype)[:, tf.newaxis, :]   # [n, 1, n]
        shifted = tf.concat([gate_values + shifts, gate_values - shifts], axis=0)
        # Row j of the 2n·batch shifted rows is example j % batch: programs need no tiling.
        expectations = self._expectation(programs, tf.reshape(shifted, [-1, n]))
        expectations = tf.reshape(expectations, [2, n, batch, self._n_observables])
        jacobian = (math.pi / 2) * (expectations[0] - expectations[1])       # [n, batch, obs]
        return tf.einsum("nbo,bo->bn", jacobian, upstream)


def check_gates(circuit):
    """Raises ValueError naming the first operation TFQ cannot simulate."""
    for op in circuit.all_operations():
        if isinstance(op.gate, SUPPORTED_GATES + CHANNELS):
            continue
        name = type(op.gate).__name__ if op.gate is not None else type(op).__name__
        raise ValueError(
            f"`circuit` contains {op!r} ({name}), which TensorFlow Quantum cannot simulate. "
            "Supported: X/Y/Z/H and their powers, rx/ry/rz, CNOT, CZ, SWAP, ISWAP, XX/YY/ZZ "
            "powers, PhasedXPow, PhasedISwapPow, FSim, identity, and the noise channels "
            "depolarize, asymmetric_depolarize, amplitude_damp, generalized_amplitude_damp, "
            "phase_damp, phase_flip, bit_flip and reset. Measurements are not part of the "
            "circuit: use `repetitions` for shots."
        )


def _gate_without_shift_rule(circuit):
    """The first parameterized gate whose eigenvalue gaps are not all 0 or 1 half turn."""
    for op in circuit.all_operations():
        if cirq.is_parameterized(op):
            eigenvalues = np.array([theta for theta, _ in eigen_components(op.gate)])
            gaps = np.abs(eigenvalues[:, None] - eigenvalues[None, :])
            if not np.all(np.isclose(gaps, 0) | np.isclose(gaps, 1)):
                return op
    return None

"""The ``qsim`` engine: TensorFlow Quantum's ops, differentiable to any order.

Forward passes run TFQ's qsim ops: exact expectations, sampled ones (``repetitions`` shots) and
noisy ones (Monte-Carlo trajectories), one op call per batch.

Gradients: no TFQ differentiator gives second-order gradients, so the op is wrapped
in two custom gradients. The first-order gradient is the chosen TFQ differentiator's (adjoint by
default: exact and fast). Its own gradient — what MAML's outer loop needs — comes from writing the
same first-order gradient *in the graph* as the two-term parameter-shift rule

    dE/dt_k = π/2 · [E(t + ½ e_k) − E(t − ½ e_k)]

over every gate exponent ``t_k`` (half turns) at once, in one batched call of ``2 · n_gates``
shifted circuits per example, which is again this differentiable expectation; so any order works.
The rule is exact for gates whose eigenvalues differ by 0 or 1 half turn (rx/ry/rz, X/Y/Z/H
powers, CNOT/CZ/SWAP powers, XX/YY/ZZ powers); other parameterized gates (e.g. ISWAP powers) get
first-order gradients and a clear error at second order.
"""
import math

import cirq
import numpy as np
import tensorflow as tf
import tensorflow_quantum as tfq

from tfq_meta._compat.cirq import eigen_components
from tfq_meta._compat.tfq import upstream_scale

DIFFERENTIATORS = {
    "adjoint": tfq.differentiators.Adjoint,
    "parameter_shift": tfq.differentiators.ParameterShift,
    "finite_difference": lambda: tfq.differentiators.CentralDifference(grid_spacing=1e-3),
}
SUPPORTED_GATES = tuple({type(gate) for gate in tfq.util.get_supported_gates()})
CHANNELS = (
    cirq.DepolarizingChannel, cirq.AsymmetricDepolarizingChannel, cirq.AmplitudeDampingChannel,
    cirq.GeneralizedAmplitudeDampingChannel, cirq.ResetChannel, cirq.PhaseDampingChannel,
    cirq.PhaseFlipChannel, cirq.BitFlipChannel,
)


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
    """

    def __init__(self, circuit, gate_symbols, observables, differentiator, samples=None,
                 sampled=False):
        check_gates(circuit)
        self.noisy = is_noisy(circuit)
        self.samples = samples
        self._n_gates = len(gate_symbols)
        self._n_observables = len(observables)
        self._program = tfq.convert_to_tensor([circuit])
        self._operators = tfq.convert_to_tensor([observables])
        self._symbol_names = tf.constant(list(gate_symbols), tf.string)
        self._differentiator = DIFFERENTIATORS[differentiator]()
        self._forward_op = self._tfq_op(sampled)
        # Registers the forward op with the differentiator, which its gradient methods use.
        self._differentiator.generate_differentiable_op(
            **({"sampled_op": self._forward_op} if samples else {"analytic_op": self._forward_op}))
        self.second_order_blocker = _gate_without_shift_rule(circuit)

    def __call__(self, gate_values, data_circuits=None):
        """Expectations ``[batch, n_observables]`` (float32), differentiable to any order."""
        gate_values = tf.cast(gate_values, tf.float32)
        programs = tf.tile(self._program, [tf.shape(gate_values)[0]])
        if data_circuits is not None:
            programs = tfq.append_circuit(data_circuits, programs)
        return self._expectation(programs, gate_values)

    def _tfq_op(self, sampled):
        if self.noisy:
            return tfq.noise.sampled_expectation if sampled else tfq.noise.expectation
        return tfq.get_sampled_expectation_op() if sampled else tfq.get_expectation_op()

    def _arguments(self, programs, gate_values):
        batch = tf.shape(programs)[0]
        arguments = [programs, self._symbol_names, gate_values,
                     tf.tile(self._operators, [batch, 1])]
        if self.samples:
            arguments.append(tf.fill([batch, self._n_observables], self.samples))
        return arguments

    def _expectation(self, programs, gate_values):
        @tf.custom_gradient
        def expectation(values):
            # stop_gradient: the forward ops have no gradients; tapes must only see this function.
            arguments = self._arguments(programs, tf.stop_gradient(values))
            result = self._forward_op(*arguments)
            return result, lambda upstream: self._first_order(programs, values, upstream, result)

        return expectation(gate_values)

    def _first_order(self, programs, gate_values, upstream, forward):
        @tf.custom_gradient
        def vector_jacobian_product(values, upstream):
            arguments = self._arguments(programs, tf.stop_gradient(values))
            gradient = self._differentiate(arguments, tf.stop_gradient(forward),
                                           tf.stop_gradient(upstream))

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

    def _differentiate(self, arguments, forward, upstream):
        """The TFQ differentiator's ``upstream · dE/dvalues`` ``[batch, n_gates]``, linear in
        ``upstream`` (see :func:`tfq_meta._compat.tfq.upstream_scale`)."""
        scale = upstream_scale(upstream)
        differentiate = (self._differentiator.differentiate_sampled if self.samples else
                         self._differentiator.differentiate_analytic)
        return differentiate(*arguments, forward, upstream * scale) / scale

    def _shift_rule_product(self, programs, gate_values, upstream):
        """upstream · dE/dvalues by the parameter-shift rule, as differentiable graph ops."""
        n, batch = self._n_gates, tf.shape(gate_values)[0]
        shifts = 0.5 * tf.eye(n, dtype=gate_values.dtype)[:, tf.newaxis, :]   # [n, 1, n]
        shifted = tf.concat([gate_values + shifts, gate_values - shifts], axis=0)
        expectations = self._expectation(tf.tile(programs, [2 * n]), tf.reshape(shifted, [-1, n]))
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


def is_noisy(circuit):
    return any(isinstance(op.gate, CHANNELS) for op in circuit.all_operations())


def _gate_without_shift_rule(circuit):
    """The first parameterized gate whose eigenvalue gaps are not all 0 or 1 half turn."""
    for op in circuit.all_operations():
        if cirq.is_parameterized(op):
            eigenvalues = np.array([theta for theta, _ in eigen_components(op.gate)])
            gaps = np.abs(eigenvalues[:, None] - eigenvalues[None, :])
            if not np.all(np.isclose(gaps, 0) | np.isclose(gaps, 1)):
                return op
    return None

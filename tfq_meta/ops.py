"""The one circuit-evaluation call of tfq_meta.

Every layer evaluates circuits through :class:`CircuitExpectation`: a parameterized circuit, the
ordered symbols its ``symbol_values`` columns refer to, and a list of observables. A call maps
``symbol_values`` of shape ``[batch, n_symbols]`` to expectation values ``[batch, n_observables]``
in **one** batched simulator call, whatever differs between the examples of the batch (features,
and even per-example weights, are all just symbol values; DESIGN fact 3).

The engine is TensorFlow Quantum's qsim ops (DESIGN fact 2): analytic expectations, sampled
(shot-based) ones with ``repetitions``, and noisy ones (Monte-Carlo trajectories) when the circuit
carries noise channels or a ``noise`` model is given. Nothing outside this module needs to know
how circuits are simulated.
"""
import os

import cirq
import numpy as np
import tensorflow as tf
import tensorflow_quantum as tfq

from tfq_meta.lowering import LoweredCircuit
from tfq_meta.observables import parse_observables

DIFFERENTIATORS = {
    "adjoint": tfq.differentiators.Adjoint,
    "parameter_shift": tfq.differentiators.ParameterShift,
    "finite_difference": lambda: tfq.differentiators.CentralDifference(grid_spacing=1e-3),
}
_GATES = tuple({type(gate) for gate in tfq.util.get_supported_gates()})
_CHANNELS = (
    cirq.DepolarizingChannel, cirq.AsymmetricDepolarizingChannel, cirq.AmplitudeDampingChannel,
    cirq.GeneralizedAmplitudeDampingChannel, cirq.ResetChannel, cirq.PhaseDampingChannel,
    cirq.PhaseFlipChannel, cirq.BitFlipChannel,
)
# Bytes of one complex64 amplitude, and state vectors qsim keeps per worker thread at once
# (the adjoint gradient holds the state, its adjoint and a scratch copy).
_AMPLITUDE_BYTES = 8
_STATES_PER_THREAD = 3


class CircuitExpectation:
    """Batched, differentiable expectation values of a parameterized circuit.

    Args:
        circuit: a ``cirq.Circuit`` with sympy symbols. Symbolic gate exponents may be any sympy
            expression of the symbols (``w * x``, ``0.5 * x + 0.25`` …): they are computed in
            TensorFlow, so gradients flow through them exactly.
        symbols: ordered list of ``sympy.Symbol`` (or names) matching the columns of
            ``symbol_values``; must cover every symbol of ``circuit``.
        observables: observable(s) as accepted by :func:`tfq_meta.observables.parse_observables`
            (``"Z0"``, ``"Z0*Z1"``, ``cirq.PauliSum`` …), indices into ``sorted(circuit qubits)``.
        differentiator: ``"adjoint"`` (exact, fastest; analytic only), ``"parameter_shift"``
            (exact; works with shots and noise), ``"finite_difference"`` (central, step 1e-3), or
            ``None`` for adjoint when analytic and parameter shift otherwise.
        repetitions: ``None`` for exact expectations, or a positive number of measurement shots
            per circuit and observable.
        noise: ``None``, a depolarizing probability (float) applied to every qubit after every
            moment, a Cirq channel such as ``cirq.depolarize(0.01)``, or a ``cirq.NoiseModel``.
        trajectories: number of Monte-Carlo trajectories for noisy expectations without shots.

    Example:
    >>> import sympy
    >>> x, w = sympy.symbols("x w")
    >>> q = cirq.LineQubit(0)
    >>> expectation = CircuitExpectation(cirq.Circuit(cirq.rx(w * x)(q)), [x, w], "Z0")
    >>> expectation(tf.constant([[0.5, 2.0]])).numpy()  # cos(0.5 * 2.0)
    array([[0.5403023]], dtype=float32)
    """

    def __init__(self, circuit, symbols, observables, differentiator=None, repetitions=None,
                 noise=None, trajectories=1000):
        if not isinstance(circuit, cirq.Circuit):
            raise TypeError(f"`circuit` must be a cirq.Circuit; got {type(circuit).__name__}.")
        self.qubits = sorted(circuit.all_qubits())
        self.symbols = [cirq.to_sympy_symbol(s) if isinstance(s, str) else s for s in symbols]
        self.observables = parse_observables(observables, self.qubits)
        self.repetitions = _optional_positive_int(repetitions, "repetitions")
        self.trajectories = _optional_positive_int(trajectories, "trajectories")
        self.noise = noise_model(noise)
        self._check_gates(circuit)
        check_memory(len(self.qubits))

        lowered = LoweredCircuit(circuit, self.symbols)
        if self.noise is not None:
            lowered.circuit = lowered.circuit.with_noise(self.noise)
        self.noisy = any(isinstance(op.gate, _CHANNELS) for op in lowered.circuit.all_operations())
        self._lowered = lowered
        self._program = tfq.convert_to_tensor([lowered.circuit])
        self._operators = tfq.convert_to_tensor([self.observables])
        self._gate_symbols = tf.constant(lowered.gate_symbols, tf.string)
        self.differentiator = self._resolve_differentiator(differentiator)
        self._op = self._differentiable_op()

    def __call__(self, symbol_values, data_circuits=None):
        """Expectation values for each row of ``symbol_values``.

        Args:
            symbol_values: float tensor ``[batch, len(symbols)]``.
            data_circuits: optional string tensor ``[batch]`` of circuits
                (``tfq.convert_to_tensor``) prepended to the model circuit, one per example.
                Appending circuits is TFQ work done on every call (measured: +60–90 % time at
                4–8 qubits), so feed classical data through ``symbol_values`` where you can.

        Returns:
            float32 tensor ``[batch, len(observables)]``.
        """
        symbol_values = tf.cast(symbol_values, tf.float32)
        batch = tf.shape(symbol_values)[0]
        programs = tf.tile(self._program, [batch])
        if data_circuits is not None:
            programs = tfq.append_circuit(data_circuits, programs)
        arguments = [
            programs,
            self._gate_symbols,
            self._lowered.gate_values(symbol_values),
            tf.tile(self._operators, [batch, 1]),
        ]
        samples = self.repetitions if self.repetitions is not None else (
            self.trajectories if self.noisy else None)
        if samples is not None:
            arguments.append(tf.fill([batch, len(self.observables)], samples))
        return self._op(*arguments)

    def _check_gates(self, circuit):
        for op in circuit.all_operations():
            if isinstance(op.gate, _GATES + _CHANNELS):
                continue
            name = type(op.gate).__name__ if op.gate is not None else type(op).__name__
            raise ValueError(
                f"`circuit` contains {op!r} ({name}), which TensorFlow Quantum cannot simulate. "
                "Supported: X/Y/Z/H and their powers, rx/ry/rz, CNOT, CZ, SWAP, ISWAP, "
                "XX/YY/ZZ powers, PhasedXPow, PhasedISwapPow, FSim, identity, and the noise "
                "channels depolarize, asymmetric_depolarize, amplitude_damp, "
                "generalized_amplitude_damp, phase_damp, phase_flip, bit_flip and reset. "
                "Measurements are not part of the circuit: use `repetitions` for shots."
            )

    def _resolve_differentiator(self, differentiator):
        exact = self.repetitions is None and not self.noisy
        if differentiator is None:
            differentiator = "adjoint" if exact else "parameter_shift"
        if differentiator not in DIFFERENTIATORS:
            raise ValueError(f"`differentiator` must be one of {sorted(DIFFERENTIATORS)} or None; "
                             f"got {differentiator!r}.")
        if differentiator == "adjoint" and not exact:
            raise ValueError(
                "`differentiator='adjoint'` needs exact expectations, but this circuit is "
                f"{'sampled (repetitions)' if self.repetitions else 'noisy'}: use "
                "'parameter_shift' or 'finite_difference'."
            )
        return differentiator

    def _differentiable_op(self):
        differentiator = DIFFERENTIATORS[self.differentiator]()
        if self.noisy:
            op = (tfq.noise.sampled_expectation if self.repetitions is not None
                  else tfq.noise.expectation)
            return differentiator.generate_differentiable_op(sampled_op=op)
        if self.repetitions is not None:
            return differentiator.generate_differentiable_op(
                sampled_op=tfq.get_sampled_expectation_op())
        return differentiator.generate_differentiable_op(analytic_op=tfq.get_expectation_op())


def noise_model(noise):
    """Normalizes ``noise`` (None, a depolarizing probability, a channel or a NoiseModel)."""
    if noise is None:
        return None
    if isinstance(noise, (int, float)) and not isinstance(noise, bool):
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"`noise` as a depolarizing probability must be in [0, 1]; got {noise}.")
        noise = cirq.depolarize(noise)
    try:
        return cirq.NoiseModel.from_noise_model_like(noise)
    except (TypeError, ValueError):
        raise TypeError(
            "`noise` must be None, a depolarizing probability in [0, 1], a Cirq channel such as "
            f"cirq.depolarize(0.01), or a cirq.NoiseModel; got {noise!r}."
        ) from None


def check_memory(n_qubits, available_bytes=None):
    """Raises ValueError if simulating ``n_qubits`` qubits would not fit in memory."""
    threads = os.cpu_count() or 1
    needed = _AMPLITUDE_BYTES * 2.0 ** n_qubits * _STATES_PER_THREAD * threads
    available = available_memory_bytes() if available_bytes is None else available_bytes
    if needed > available:
        raise ValueError(
            f"`circuit` has {n_qubits} qubits: one state vector takes "
            f"{_format_bytes(_AMPLITUDE_BYTES * 2.0 ** n_qubits)} and simulating it on "
            f"{threads} thread(s) needs about {_format_bytes(needed)}, but only "
            f"{_format_bytes(available)} of memory is available. Use fewer qubits."
        )


def available_memory_bytes():
    """Memory available to this process, from /proc/meminfo where it exists."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def _format_bytes(n_bytes):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n_bytes < 1024 or unit == "PiB":
            return f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024


def _optional_positive_int(value, argument):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{argument}` must be None or a positive int; got {value!r}.")
    return int(value)

"""The one circuit-evaluation call of tfq_meta, and the choice of simulation engine.

Every layer evaluates circuits through :class:`CircuitExpectation`: a parameterized circuit, the
ordered symbols its ``symbol_values`` columns refer to, and a list of observables. A call maps
``symbol_values`` of shape ``[batch, n_symbols]`` to expectation values ``[batch, n_observables]``
in one batched simulation, whatever differs between the examples of the batch (features, and even
per-example weights, are all just symbol values; DESIGN fact 3). It is differentiable to any order
on every engine, so meta-learning code nests ``GradientTape``s without asking what runs below.

Two engines sit behind it (DESIGN fact 10):

``"statevector"``
    A batched state vector in plain TensorFlow ops (:mod:`tfq_meta.engines.statevector`): much
    faster for small and medium circuits, XLA-compilable, GPU-capable, autodiff to any order.
``"qsim"``
    TensorFlow Quantum's qsim ops (:mod:`tfq_meta.engines.qsim`): large circuits, shots, noise;
    second order through an in-graph parameter-shift rule.

``engine="auto"`` picks statevector for exact, noise-free expectations on at most
:data:`AUTO_STATEVECTOR_MAX_QUBITS` qubits (the crossover ``bench/bench_engines.py`` measures) and
qsim otherwise. Nothing outside this module needs to know how circuits are simulated.
"""
import os

import cirq
import tensorflow as tf

from tfq_meta._validation import check_choice, check_positive_int
from tfq_meta.engines import qsim, statevector
from tfq_meta.lowering import LoweredCircuit
from tfq_meta.observables import parse_observables

ENGINES = ("auto", "statevector", "qsim")
DIFFERENTIATORS = tuple(qsim.DIFFERENTIATORS)
STATE_DTYPES = ("complex64", "complex128")
# Above this many qubits qsim beats the TensorFlow state vector (bench_engines.py: statevector
# 1.5x faster at 12 qubits, qsim 1.2x faster at 13 and 1.4x at 14; batch 160, XLA).
AUTO_STATEVECTOR_MAX_QUBITS = 12
# Fraction of available memory one statevector evaluation may use before the batch is split.
_MEMORY_BUDGET = 0.5
# Circuits that fit this many examples at once are never split inside a traced graph.
_ALWAYS_SPLITTABLE = 2 ** 16
# Bytes of one complex64 amplitude, and state vectors qsim keeps per worker thread at once
# (the adjoint gradient holds the state, its adjoint and a scratch copy).
_AMPLITUDE_BYTES = 8
_STATES_PER_THREAD = 3


class CircuitExpectation:
    """Batched expectation values of a parameterized circuit, differentiable to any order.

    Args:
        circuit: a ``cirq.Circuit`` with sympy symbols. Symbolic gate exponents may be any sympy
            expression of the symbols (``w * x``, ``0.5 * x + 0.25`` …): they are computed in
            TensorFlow, so gradients flow through them exactly.
        symbols: ordered list of ``sympy.Symbol`` (or names) matching the columns of
            ``symbol_values``; must cover every symbol of ``circuit``.
        observables: observable(s) as accepted by :func:`tfq_meta.observables.parse_observables`
            (``"Z0"``, ``"Z0*Z1"``, ``cirq.PauliSum`` …), indices into ``sorted(circuit qubits)``.
        engine: ``"auto"`` (default), ``"statevector"`` or ``"qsim"`` (see the module docstring).
        differentiator: first-order gradient method of the qsim engine: ``"adjoint"`` (exact,
            fastest; analytic only), ``"parameter_shift"`` (exact; shots and noise) or
            ``"finite_difference"`` (central, step 1e-3); ``None`` picks adjoint when analytic and
            parameter shift otherwise. The statevector engine differentiates exactly by autodiff.
        repetitions: ``None`` for exact expectations, or a positive number of measurement shots
            per circuit and observable (qsim).
        noise: ``None``, a depolarizing probability (float) applied to every qubit after every
            moment, a Cirq channel such as ``cirq.depolarize(0.01)``, or a ``cirq.NoiseModel``
            (qsim).
        trajectories: number of Monte-Carlo trajectories for noisy expectations without shots.
        state_dtype: ``"complex64"`` (default) or ``"complex128"`` (statevector only): the
            precision of the simulation; outputs are float32 or float64 accordingly.

    Example:
    >>> import sympy
    >>> x, w = sympy.symbols("x w")
    >>> q = cirq.LineQubit(0)
    >>> expectation = CircuitExpectation(cirq.Circuit(cirq.rx(w * x)(q)), [x, w], "Z0")
    >>> expectation(tf.constant([[0.5, 2.0]])).numpy().round(6)  # cos(0.5 * 2.0)
    array([[0.540302]], dtype=float32)
    """

    def __init__(self, circuit, symbols, observables, engine="auto", differentiator=None,
                 repetitions=None, noise=None, trajectories=1000, state_dtype="complex64"):
        if not isinstance(circuit, cirq.Circuit):
            raise TypeError(f"`circuit` must be a cirq.Circuit; got {type(circuit).__name__}.")
        self.qubits = sorted(circuit.all_qubits())
        self.symbols = [cirq.to_sympy_symbol(s) if isinstance(s, str) else s for s in symbols]
        self.observables = parse_observables(observables, self.qubits)
        self.repetitions = check_positive_int(repetitions, "repetitions", allow_none=True)
        self.trajectories = check_positive_int(trajectories, "trajectories", allow_none=True)
        self.noise = noise_model(noise)
        self.state_dtype = check_choice(state_dtype, STATE_DTYPES, "state_dtype")
        self._lowered = LoweredCircuit(circuit, self.symbols)
        if self.noise is not None:
            self._lowered.circuit = self._lowered.circuit.with_noise(self.noise)
        self.noisy = qsim.is_noisy(self._lowered.circuit)
        self.differentiator = self._resolve_differentiator(differentiator)
        self.requested_engine = check_choice(engine, ENGINES, "engine")
        self.engine = self._resolve_engine(engine)
        self._engines = {}
        self._engine(self.engine)  # builds it now, so bad circuits fail at construction

    @property
    def output_dtype(self):
        return tf.float64 if self.state_dtype == "complex128" else tf.float32

    @property
    def second_order_blocker(self):
        """The first operation whose second derivatives this op cannot compute, or None.

        Only qsim has one: its second order is the two-term parameter-shift rule (DESIGN fact 4).
        """
        if self.engine != "qsim":
            return None
        return self._engine("qsim").second_order_blocker

    def __call__(self, symbol_values, data_circuits=None):
        """Expectation values for each row of ``symbol_values``.

        Args:
            symbol_values: float tensor ``[batch, len(symbols)]``.
            data_circuits: optional string tensor ``[batch]`` of circuits
                (``tfq.convert_to_tensor``) prepended to the model circuit, one per example.
                They run on qsim (with ``engine="auto"``), and appending circuits is TFQ work
                done on every call (measured: +60–90 % time at 4–8 qubits), so feed classical
                data through ``symbol_values`` where you can.

        Returns:
            tensor ``[batch, len(observables)]`` of :attr:`output_dtype`.
        """
        symbol_values = tf.cast(symbol_values, self.output_dtype)
        gate_values = self._lowered.gate_values(symbol_values)
        if data_circuits is not None:
            if self.requested_engine == "statevector":
                raise ValueError("`data_circuits` (quantum data) need the qsim engine; this "
                                 "layer was built with engine='statevector'. Use 'auto' or 'qsim'.")
            return tf.cast(self._engine("qsim")(gate_values, data_circuits), self.output_dtype)
        if self.engine == "qsim":
            return self._engine("qsim")(gate_values)
        return self._split_batch(self._engine("statevector"), gate_values)

    def _engine(self, name):
        if name not in self._engines:
            if name == "qsim":
                check_memory(len(self.qubits))
                samples = self.repetitions or (self.trajectories if self.noisy else None)
                self._engines[name] = qsim.QsimEngine(
                    self._lowered.circuit, self._lowered.gate_symbols, self.observables,
                    self.differentiator, samples, sampled=self.repetitions is not None)
            else:
                # Checked before building: the engine's tables already take 2^n memory.
                self._max_batch = statevector_max_batch(
                    len(self.qubits), len(list(self._lowered.circuit.all_operations())),
                    self.state_dtype)
                self._engines[name] = statevector.StatevectorEngine(
                    self._lowered.circuit, self._lowered.gate_symbols, self.observables,
                    self.qubits, tf.as_dtype(self.state_dtype))
        return self._engines[name]

    def _split_batch(self, engine, gate_values):
        """Runs ``engine`` on chunks of at most ``_max_batch`` rows when the batch would not fit."""
        chunk = self._max_batch
        batch = tf.shape(gate_values)[0]

        def chunked():
            n_chunks = (batch + chunk - 1) // chunk
            padded = tf.pad(gate_values, [[0, n_chunks * chunk - batch], [0, 0]])
            chunks = tf.reshape(padded, [n_chunks, chunk, gate_values.shape[1]])
            results = tf.map_fn(engine, chunks, parallel_iterations=1,
                                fn_output_signature=self.output_dtype)
            return tf.reshape(results, [-1, len(self.observables)])[:batch]

        static_batch = gate_values.shape[0]
        if static_batch is not None:
            return engine(gate_values) if static_batch <= chunk else chunked()
        if chunk < _ALWAYS_SPLITTABLE:
            return tf.cond(batch <= chunk, lambda: engine(gate_values), chunked)
        # Small circuits: a batch this large is out of reach, and tracing the split branch (and its
        # gradient) would cost every model seconds; check instead of splitting.
        check = tf.debugging.assert_less_equal(batch, chunk, message=(
            f"A batch of more than {chunk} examples does not fit in memory for this circuit on the "
            "statevector engine; use smaller batches."))
        with tf.control_dependencies([check]):
            return engine(tf.identity(gate_values))

    def _resolve_differentiator(self, differentiator):
        exact = self.repetitions is None and not self.noisy
        if differentiator is None:
            differentiator = "adjoint" if exact else "parameter_shift"
        check_choice(differentiator, DIFFERENTIATORS, "differentiator")
        if differentiator == "adjoint" and not exact:
            raise ValueError(
                "`differentiator='adjoint'` needs exact expectations, but this circuit is "
                f"{'sampled (repetitions)' if self.repetitions else 'noisy'}: use "
                "'parameter_shift' or 'finite_difference'."
            )
        return differentiator

    def _resolve_engine(self, engine):
        needs_qsim = self.repetitions is not None or self.noisy
        if engine == "statevector" and needs_qsim:
            raise ValueError(
                "engine='statevector' computes exact, noise-free expectations; "
                f"{'`repetitions` (shots)' if self.repetitions else 'noise'} needs engine='qsim' "
                "(or 'auto')."
            )
        if self.state_dtype == "complex128" and (engine == "qsim" or needs_qsim):
            raise ValueError("`state_dtype='complex128'` needs engine='statevector'; TFQ's qsim "
                             "simulates in complex64.")
        if engine != "auto":
            return engine
        # complex128 is a request for the statevector engine, whatever the qubit count.
        if needs_qsim or (len(self.qubits) > AUTO_STATEVECTOR_MAX_QUBITS
                          and self.state_dtype != "complex128"):
            return "qsim"
        return "statevector"


def statevector_max_batch(n_qubits, n_operations, state_dtype="complex64", available_bytes=None):
    """Most examples one statevector evaluation (with its gradient tape) fits in memory.

    Autodiff keeps every intermediate state: about ``n_operations + 2`` states of ``2^n_qubits``
    amplitudes per example. Raises ValueError, saying how much memory is needed, when not even one
    example fits.
    """
    amplitude = 16 if state_dtype == "complex128" else 8
    per_example = amplitude * 2.0 ** n_qubits * (n_operations + 2)
    available = available_memory_bytes() if available_bytes is None else available_bytes
    budget = _MEMORY_BUDGET * available
    if per_example > budget:
        raise ValueError(
            f"`circuit` has {n_qubits} qubits and {n_operations} operations: the statevector "
            f"engine needs about {_format_bytes(per_example)} per example (state and gradient "
            f"tape), more than {_format_bytes(budget)} ({_MEMORY_BUDGET:.0%} of the "
            f"{_format_bytes(available)} available). Use engine='qsim' or fewer qubits."
        )
    return int(budget // per_example)


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


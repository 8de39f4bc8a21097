"""The one compiled-circuit core of tfq_meta: expectations and states, and the engine choice.

:class:`CompiledCircuit` holds a parameterized circuit and the ordered symbols the columns of its
``symbol_values`` refer to. It lowers the circuit once (:mod:`tfq_meta.lowering`), picks the
engine once, knows how many examples fit in memory (:mod:`tfq_meta.memory`), and offers

* ``expectations(symbol_values, observables)``: ``[batch, n_symbols]`` → ``[batch,
  n_observables]``, one batched simulation whatever differs between the examples (features, and
  even per-example weights, are all just symbol values), differentiable to any
  order on every engine; one engine per observable set, built on first use and kept, so a layer
  measured on other observables reuses the same compiled circuit;
* ``states(symbol_values)``: ``[batch, 2^n]`` final states (statevector engine).

Every circuit evaluation of the package goes through it: the PQC layer and its measurements,
the distillation losses (through PQC), the kernels and :mod:`tfq_meta.fidelity`.
:class:`CircuitExpectation` is a compiled circuit bound to one observable set.

Two engines sit behind it:

``"statevector"``
    A batched state vector in plain TensorFlow ops (:mod:`tfq_meta.engines.statevector`): much
    faster for small and medium circuits, XLA-compilable, GPU-capable, autodiff to any order.
``"qsim"``
    TensorFlow Quantum's qsim ops (:mod:`tfq_meta.engines.qsim`): large circuits, shots, noise;
    second order through an in-graph parameter-shift rule.
A Cirq backend
    Any ``cirq.Sampler`` or simulator implementing ``cirq.SimulatesExpectationValues``
    (:mod:`tfq_meta.backends`): the qsim engine's code path with TFQ's ops for that backend.

``engine="auto"`` picks statevector for exact, noise-free expectations on at most
:data:`EXPECTATION_STATEVECTOR_MAX_QUBITS` qubits (the crossover ``bench/bench_engines.py``
measures) and qsim otherwise; XLA moves the crossover, so where a step is compiled by XLA it
picks statevector up to :data:`XLA_STATEVECTOR_MAX_QUBITS` qubits (``xla_engine``). Where
TensorFlow Quantum is missing (:mod:`tfq_meta._tfq`) it picks statevector for every circuit
that fits in memory there, and what only qsim can run (shots, noise, quantum data, larger
circuits) raises :class:`tfq_meta._tfq.TensorFlowQuantumMissing` when the circuit is compiled.
Nothing outside this module needs to know how circuits are simulated.
"""
import cirq
import sympy
import tensorflow as tf

from tfq_meta import _tfq
from tfq_meta._compat.tensorflow import can_tell_xla_context, in_xla_context
from tfq_meta._validation import check_choice, check_positive_int
from tfq_meta.backends import check_backend_options, check_engine
from tfq_meta.engines import statevector
from tfq_meta.lowering import LoweredCircuit
from tfq_meta.memory import check_qsim_memory, split_batch, statevector_max_batch
from tfq_meta.noise_channels import is_noisy
from tfq_meta.observables import parse_observables

ENGINES = ("auto", "statevector", "qsim")
# The keys of tfq_meta.engines.qsim.DIFFERENTIATORS, which imports TFQ.
DIFFERENTIATORS = ("adjoint", "parameter_shift", "finite_difference")
STATE_DTYPES = ("complex64", "complex128")
# The feature named when quantum data is fed where TensorFlow Quantum is missing.
QUANTUM_DATA = "Quantum data (`data_circuits`, inputs `[data_circuits, features]`)"
# Where the statevector engine stops being the faster one for expectations and their gradients
# depends on XLA (bench_engines.py, batch 160, TensorFlow's BFC allocator: tfq_meta/_runtime.py).
# Under XLA, tfq_meta's training models' default, it is faster than qsim: 3.5x at 12 qubits, 2.5x
# at 13, 2.4x at 14, 1.7x at 15, 1.1x at 16. Without XLA, a plain Keras model's default on a CPU,
# it is not: 0.86x at 13, 0.64x at 14, 0.48x at 15. So "auto" picks the engine when a step is
# traced: statevector under XLA up to XLA_STATEVECTOR_MAX_QUBITS, qsim without XLA above 13.
EXPECTATION_STATEVECTOR_MAX_QUBITS = 13
XLA_STATEVECTOR_MAX_QUBITS = 16


class CompiledCircuit:
    """A parameterized circuit lowered once, with its engine: batched expectations and states.

    The circuit is a ``cirq.Circuit`` parameterized by sympy symbols; ``symbols`` orders them as
    the columns of every ``symbol_values`` tensor ``[batch, len(symbols)]`` this object takes.

    Args:
        circuit: a ``cirq.Circuit`` with sympy symbols. Symbolic gate exponents may be any sympy
            expression of the symbols (``w * x``, ``0.5 * x + 0.25`` …): they are computed in
            TensorFlow, so gradients flow through them exactly.
        symbols: ordered list of ``sympy.Symbol`` (or names) matching the columns of
            ``symbol_values``; must cover every symbol of ``circuit``.
        engine: ``"auto"`` (default), ``"statevector"`` or ``"qsim"`` for expectations (see the
            module docstring), or a Cirq backend: a ``cirq.Sampler`` (with ``repetitions``) or a
            simulator implementing ``cirq.SimulatesExpectationValues`` (see
            :mod:`tfq_meta.backends`). States always come from the statevector engine.
        differentiator: first-order gradient method of the qsim engine: ``"adjoint"`` (exact,
            fastest; analytic only), ``"parameter_shift"`` (exact; shots and noise) or
            ``"finite_difference"`` (central, step 1e-3); ``None`` picks adjoint when analytic and
            parameter shift otherwise (always on a Cirq backend). The statevector engine
            differentiates exactly by autodiff.
        repetitions: ``None`` for exact expectations, or a positive number of measurement shots
            per circuit and observable (qsim).
        noise: ``None``, a depolarizing probability (float) applied to every qubit after every
            moment, a Cirq channel such as ``cirq.depolarize(0.01)``, or a ``cirq.NoiseModel``
            (qsim). With a Cirq backend, the backend simulates these channels; it must not
            have a noise model of its own.
        trajectories: number of Monte-Carlo trajectories for noisy expectations without shots
            (qsim; a Cirq backend simulates noise its own way).
        state_dtype: ``"complex64"`` (default) or ``"complex128"`` (statevector only): the
            precision of the simulation; outputs are float32 or float64 accordingly.

    Example:
    >>> import sympy
    >>> x, w = sympy.symbols("x w")
    >>> q = cirq.LineQubit(0)
    >>> compiled = CompiledCircuit(cirq.Circuit(cirq.rx(w * x)(q)), [x, w])
    >>> values = tf.constant([[0.5, 2.0]])
    >>> compiled.expectations(values, ["Z0", "Y0"]).numpy().round(6)  # cos(1), -sin(1)
    array([[ 0.540302, -0.841471]], dtype=float32)
    >>> compiled.states(values).shape
    TensorShape([1, 2])
    """

    def __init__(self, circuit, symbols, engine="auto", differentiator=None, repetitions=None,
                 noise=None, trajectories=1000, state_dtype="complex64"):
        if not isinstance(circuit, cirq.Circuit):
            raise TypeError(f"`circuit` must be a cirq.Circuit; got {type(circuit).__name__}.")
        self.qubits = _check_qubits(sorted(circuit.all_qubits()))
        self.symbols = [sympy.Symbol(s) if isinstance(s, str) else s for s in symbols]
        self.repetitions = check_positive_int(repetitions, "repetitions", allow_none=True)
        self.trajectories = check_positive_int(trajectories, "trajectories", allow_none=True)
        self.noise = noise_model(noise)
        self.state_dtype = check_choice(state_dtype, STATE_DTYPES, "state_dtype")
        self.lowered = LoweredCircuit(circuit, self.symbols)
        if self.noise is not None:
            self.lowered.circuit = self.lowered.circuit.with_noise(self.noise)
        self.noisy = is_noisy(self.lowered.circuit)
        engine = check_engine(engine, ENGINES)
        self.backend = None if isinstance(engine, str) else engine
        if self.backend is not None:
            check_backend_options(self.backend, self.repetitions, self.noise, self.noisy)
        self.differentiator = self._resolve_differentiator(differentiator)
        self.requested_engine = engine
        self.engine = self._resolve_engine("qsim" if self.backend is not None else engine)
        self.xla_engine = self._resolve_xla_engine(engine)
        self._engines = {}  # (engine name, observables key) -> engine
        self._max_batch = None  # statevector rows per evaluation, from the memory estimate

    @property
    def output_dtype(self):
        return tf.float64 if self.state_dtype == "complex128" else tf.float32

    @property
    def supports_jit(self):
        """Whether XLA can compile this circuit's expectations: on the statevector engine (TFQ's
        ops are not XLA-compilable), and when no angle can be non-finite, a check XLA drops."""
        return self.xla_engine == "statevector" and self.lowered.angles_always_finite

    @property
    def second_order_blocker(self):
        """The first operation whose second derivatives the expectations cannot have, or None.

        Only qsim has one: its second order is the two-term parameter-shift rule.
        """
        if self.engine != "qsim":
            return None
        built = [engine for (name, _), engine in self._engines.items() if name == "qsim"]
        return (built[0] if built else self._engine("qsim", [])).second_order_blocker

    def prepare(self, observables):
        """``observables`` as PauliSums on this circuit's qubits, with their engine built now, so
        a circuit the engine cannot run fails here rather than at the first evaluation.

        Args:
            observables: as accepted by :func:`tfq_meta.observables.parse_observables`
                (``"Z0"``, ``"Z0*Z1"``, ``cirq.PauliSum`` …), indices into the sorted qubits.

        Returns:
            list of ``cirq.PauliSum``, to pass to :meth:`expectations`.
        """
        observables = parse_observables(observables, self.qubits)
        self._engine(self.engine, observables)
        return observables

    def prepare_states(self):
        """Builds the engine of :meth:`states` now: raises, saying how much memory one state
        needs, when not even one fits."""
        self._engine("statevector", [])

    def gate_values(self, symbol_values):
        """The lowered circuit's gate values ``[batch, len(lowered.gate_symbols)]``."""
        return self.lowered.gate_values(tf.cast(symbol_values, self.output_dtype))

    def expectations(self, symbol_values, observables, data_circuits=None):
        """Expectation values of ``observables`` for each row of ``symbol_values``.

        Args:
            symbol_values: float tensor ``[batch, len(symbols)]``.
            observables: as for :meth:`prepare`; each distinct set gets its engine once.
            data_circuits: optional string tensor ``[batch]`` of circuits
                (``tfq.convert_to_tensor``) prepended to the model circuit, one per example.
                They run on qsim (with ``engine="auto"``), and appending circuits is TFQ work
                done on every call (measured: +60–90 % time at 4–8 qubits), so feed classical
                data through ``symbol_values`` where you can.

        Returns:
            tensor ``[batch, len(observables)]`` of :attr:`output_dtype`.
        """
        observables = parse_observables(observables, self.qubits)
        gate_values = self.gate_values(symbol_values)
        if data_circuits is not None:
            if self.requested_engine == "statevector":
                raise ValueError("`data_circuits` (quantum data) need the qsim engine; this "
                                 "layer was built with engine='statevector'. Use 'auto' or 'qsim'.")
            _tfq.require(QUANTUM_DATA)
            engine = self._engine("qsim", observables)
            return tf.cast(engine(gate_values, data_circuits), self.output_dtype)
        name = self.xla_engine if self.xla_engine and in_xla_context() else self.engine
        engine = self._engine(name, observables)
        if name == "qsim":
            return engine(gate_values)
        return split_batch(engine, gate_values, self._max_batch, self.output_dtype)

    def states(self, symbol_values):
        """Final states ``[batch, 2^n]`` prepared from ``|0…0⟩``, each up to a global phase.

        Computed by the statevector engine whatever ``engine`` is (noise-free circuits only), in
        chunks when the batch does not fit in memory at once; differentiable to any order.

        Args:
            symbol_values: float tensor ``[batch, len(symbols)]``; the batch may be unknown.
        """
        engine = self._engine("statevector", [])
        return split_batch(engine.states, self.gate_values(symbol_values), self._max_batch,
                           tf.as_dtype(self.state_dtype))

    def _engine(self, name, observables):
        key = (name, tuple(map(repr, observables)))
        if key not in self._engines:
            # Built eagerly even when first needed inside a tf.function (quantum data switches a
            # statevector layer to qsim at its first call): the engine is cached across graphs.
            with tf.init_scope():
                self._engines[key] = (self._qsim_engine(observables) if name == "qsim"
                                      else self._statevector_engine(observables))
        return self._engines[key]

    def _qsim_engine(self, observables):
        from tfq_meta.engines import qsim  # imports TFQ, which only qsim's users need

        if self.backend is None:
            # A backend knows its own limits: hardware runs circuits no simulator here could.
            check_qsim_memory(len(self.qubits))
        trajectories = self.trajectories if self.noisy and self.backend is None else None
        return qsim.QsimEngine(self.lowered.circuit, self.lowered.gate_symbols, observables,
                               self.differentiator, self.repetitions or trajectories,
                               sampled=self.repetitions is not None, backend=self.backend)

    def _statevector_engine(self, observables):
        if self._max_batch is None:
            # Checked before building: the engine's tables already take 2^n memory.
            self._max_batch = statevector_max_batch(
                len(self.qubits), len(list(self.lowered.circuit.all_operations())),
                self.state_dtype)
        return statevector.StatevectorEngine(self.lowered.circuit, self.lowered.gate_symbols,
                                             observables, self.qubits,
                                             tf.as_dtype(self.state_dtype))

    def _resolve_differentiator(self, differentiator):
        exact = self.repetitions is None and not self.noisy
        if differentiator is None:
            differentiator = "adjoint" if exact and self.backend is None else "parameter_shift"
        check_choice(differentiator, DIFFERENTIATORS, "differentiator")
        if differentiator == "adjoint" and self.backend is not None:
            raise ValueError(
                "`differentiator='adjoint'` runs inside TFQ's qsim simulator, not on a Cirq "
                f"backend ({type(self.backend).__name__}): use 'parameter_shift' (the default) "
                "or 'finite_difference'.")
        if differentiator == "adjoint" and not exact:
            raise ValueError(
                "`differentiator='adjoint'` needs exact expectations, but this circuit is "
                f"{'sampled (repetitions)' if self.repetitions else 'noisy'}: use "
                "'parameter_shift' or 'finite_difference'."
            )
        return differentiator

    def _resolve_engine(self, engine):
        needs_qsim = self._needs_qsim
        if engine == "statevector" and needs_qsim:
            raise ValueError(
                "engine='statevector' computes exact, noise-free expectations; "
                f"{'`repetitions` (shots)' if self.repetitions else 'noise'} needs engine='qsim' "
                "(or 'auto')."
            )
        if self.state_dtype == "complex128" and (engine == "qsim" or needs_qsim):
            raise ValueError("`state_dtype='complex128'` needs engine='statevector'; TFQ's qsim "
                             "simulates in complex64.")
        if engine == "qsim" or needs_qsim:
            _tfq.require(self._qsim_feature(engine))
            return "qsim"
        if engine == "statevector":
            return engine
        # complex128 is a request for the statevector engine, whatever the qubit count.
        if (len(self.qubits) > EXPECTATION_STATEVECTOR_MAX_QUBITS
                and self.state_dtype != "complex128"):
            if _tfq.available():
                return "qsim"
            too_large = self._statevector_limit()
            if too_large:
                # A circuit qsim cannot hold either fails on memory: TFQ would not help.
                check_qsim_memory(len(self.qubits))
                _tfq.require(f"engine='auto' on this circuit of {len(self.qubits)} qubits, which "
                             f"the statevector engine cannot run ({too_large})")
        return "statevector"

    def _resolve_xla_engine(self, engine):
        """The engine of expectations traced under XLA: the statevector engine where it runs them
        (``engine="auto"`` picks it up to :data:`XLA_STATEVECTOR_MAX_QUBITS` qubits, where it is
        faster than qsim under XLA), else None: XLA cannot compile TFQ's ops."""
        if self.engine == "statevector":
            return "statevector"
        # A Cirq backend is an engine other than "auto".
        if (engine != "auto" or self._needs_qsim or len(self.qubits) > XLA_STATEVECTOR_MAX_QUBITS
                or not can_tell_xla_context() or self._statevector_limit()):
            return None
        return "statevector"

    @property
    def _needs_qsim(self):
        """Whether only qsim computes these expectations: shots or noise."""
        return self.repetitions is not None or self.noisy

    def _qsim_feature(self, engine):
        """What asks for qsim, as the user wrote it."""
        if self.backend is not None:
            return f"A Cirq backend (engine={type(self.backend).__name__}(...), run by TFQ's ops)"
        if self.repetitions is not None:
            return f"`repetitions={self.repetitions}` (measurement shots)"
        if self.noisy:
            return "`noise` (noisy circuits)"
        return f"engine={engine!r}"

    def _statevector_limit(self):
        """Why the statevector engine cannot run this circuit, or None when it can."""
        n_qubits = len(self.qubits)
        if n_qubits > statevector.MAX_QUBITS:
            return f"it simulates at most {statevector.MAX_QUBITS} qubits"
        try:
            statevector_max_batch(n_qubits, len(list(self.lowered.circuit.all_operations())),
                                  self.state_dtype)
        except ValueError as error:
            return str(error)
        return None


class CircuitExpectation:
    """A :class:`CompiledCircuit` measured on fixed observables: ``symbol_values`` →
    expectations ``[batch, len(observables)]``, differentiable to any order.

    Args:
        circuit, symbols: as for :class:`CompiledCircuit`.
        observables: as accepted by :func:`tfq_meta.observables.parse_observables`.
        **options: ``engine``, ``differentiator``, ``repetitions``, ``noise``, ``trajectories``,
            ``state_dtype`` of :class:`CompiledCircuit`.

    Example:
    >>> import sympy
    >>> x, w = sympy.symbols("x w")
    >>> q = cirq.LineQubit(0)
    >>> expectation = CircuitExpectation(cirq.Circuit(cirq.rx(w * x)(q)), [x, w], "Z0")
    >>> expectation(tf.constant([[0.5, 2.0]])).numpy().round(6)  # cos(0.5 * 2.0)
    array([[0.540302]], dtype=float32)
    """

    def __init__(self, circuit, symbols, observables, **options):
        self.compiled = CompiledCircuit(circuit, symbols, **options)
        self.observables = self.compiled.prepare(observables)

    def __call__(self, symbol_values, data_circuits=None):
        """Expectations ``[batch, len(observables)]`` of ``symbol_values`` ``[batch, n_symbols]``
        (``data_circuits`` as for :meth:`CompiledCircuit.expectations`)."""
        return self.compiled.expectations(symbol_values, self.observables, data_circuits)


def _check_qubits(qubits):
    if not qubits:
        raise ValueError("`circuit` acts on no qubits: give a circuit with at least one gate.")
    qudits = [q for q in qubits if q.dimension != 2]
    if qudits:
        raise ValueError(f"`circuit` acts on {qudits[0]!r} of dimension {qudits[0].dimension}: "
                         "only qubits (dimension 2) are supported.")
    return qubits


def noise_model(noise):
    """Normalizes ``noise`` (None, a depolarizing probability, a channel or a NoiseModel)."""
    if noise is None:
        return None
    if isinstance(noise, (int, float)) and not isinstance(noise, bool):
        if not 0.0 <= noise <= 1.0:
            raise ValueError("`noise` as a depolarizing probability must be in [0, 1]; got "
                             f"{noise}.")
        noise = cirq.depolarize(noise)
    try:
        return cirq.NoiseModel.from_noise_model_like(noise)
    except (TypeError, ValueError):
        raise TypeError(
            "`noise` must be None, a depolarizing probability in [0, 1], a Cirq channel such as "
            f"cirq.depolarize(0.01), or a cirq.NoiseModel; got {noise!r}."
        ) from None

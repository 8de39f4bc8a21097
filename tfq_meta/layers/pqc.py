"""The PQC layer: a parameterized quantum circuit as a Keras 3 layer."""
import cirq
import keras
import numpy as np
import tensorflow as tf

from tfq_meta import _tfq
from tfq_meta._validation import checked_finite
from tfq_meta.backends import BackendReference
from tfq_meta.layers.circuit_weights import CircuitWeights
from tfq_meta.layers.quantum_data import check_data_circuits
from tfq_meta.ops import QUANTUM_DATA, CompiledCircuit, noise_model
from tfq_meta.serialization import circuit_from_json, circuit_to_json


@keras.saving.register_keras_serializable(package="tfq_meta")
class PQC(keras.layers.Layer):
    """Expectation values of a parameterized circuit whose symbols are features and weights.

    The circuit is a ``cirq.Circuit`` parameterized by sympy symbols. The symbols listed in
    ``data_symbols`` take their values from the features, column by column; every other symbol is a
    trainable weight of the layer (a float32 vector, ``layer.circuit_weights``). The layer measures
    each observable and returns its expectation value. Symbolic gate exponents may be expressions
    (``w * x`` for a trainable input scale, ``0.5 * x + 0.25`` …), differentiated exactly.

    A batch is simulated in one call: the circuit is converted once and every example's data and
    weight values go side by side in the symbol values (see :mod:`tfq_meta.ops`).

    Inputs:
        ``features``: float ``[batch, len(data_symbols)]``; or ``[data_circuits, features]``
        where ``data_circuits`` is a string tensor ``[batch]`` of circuits
        (``tfq.convert_to_tensor``) prepended to the model circuit (quantum data, as
        ``tfq.layers.PQC`` takes); or ``data_circuits`` alone when there are no data symbols.

    Output:
        float32 ``[batch, len(observables)]``, each in ``[-‖O‖, ‖O‖]``.

    NaN or infinite features, and angle expressions that are not finite at the features given
    (``a / x`` at ``x = 0``), raise a ValueError (eager) or fail a graph assertion. XLA compiles
    assertions to nothing, so a layer whose angles can be non-finite (a division, root,
    logarithm or exponential of a symbol) has ``supports_jit = False``: Keras and tfq_meta's
    trainers then run it without XLA.

    Args:
        circuit: a ``cirq.Circuit``, or a :class:`tfq_meta.circuits.CircuitSpec` (which also
            supplies ``data_symbols`` and ``initial_values``).
        observables: a Pauli string (``"Z0"``, ``"Z0*Z1"``, ``"0.5*X2 - Z0"``), ``cirq.PauliSum``,
            or a list of these. Index ``i`` is the ``i``-th of ``sorted(circuit.all_qubits())``.
        data_symbols: symbols (or names) fed by the features, in feature order.
        weight_symbols: optional explicit order of the trainable symbols; by default every other
            symbol of the circuit, in order of first appearance.
        engine: ``"auto"`` (default), ``"statevector"`` (TensorFlow state vector: fast for small
            circuits, XLA-compilable) or ``"qsim"`` (TFQ: large circuits, shots, noise, quantum
            data). Auto picks statevector for exact expectations on few qubits and qsim otherwise,
            and statevector on more qubits in steps XLA compiles (:attr:`xla_engine`); every
            engine is differentiable to any order (see :mod:`tfq_meta.ops`). qsim, and
            with it ``repetitions``, ``noise`` and quantum data, needs TensorFlow Quantum
            (:mod:`tfq_meta._tfq`); without it, auto picks statevector. Or a Cirq backend
            (needs TFQ too): a ``cirq.Sampler`` with ``repetitions`` (hardware,
            ``cirq.Simulator()``, ``cirq.DensityMatrixSimulator(noise=...)``, qsimcirq), or a
            simulator implementing ``cirq.SimulatesExpectationValues`` for exact expectations;
            gradients by parameter shift (see :mod:`tfq_meta.backends`). Such a layer is not
            XLA-compilable, and ``clone_model`` keeps its backend, but it cannot be saved to a
            file or exported.
        differentiator: first-order gradient on qsim: ``"adjoint"`` (default for exact
            expectations), ``"parameter_shift"`` (default with shots or noise) or
            ``"finite_difference"``. The statevector engine differentiates exactly by autodiff.
        repetitions: ``None`` for exact expectations, or the number of measurement shots.
        noise: ``None``, a depolarizing probability, a Cirq channel or a ``cirq.NoiseModel``
            applied after every moment; circuits with noise are simulated by trajectories (or by
            a Cirq backend, which must then have no noise model of its own).
        trajectories: Monte-Carlo trajectories of noisy expectations without shots (qsim; a
            Cirq backend simulates noise its own way).
        state_dtype: ``"complex64"`` (default) or ``"complex128"`` (statevector engine only).
        initializer: Keras initializer of the weights; default uniform angles in ``[0, 2π)``.
        initial_values: dict ``{symbol name: float}`` overriding the initializer for some weights.
        regularizer, constraint: Keras regularizer and constraint of the weights.

    Example:
    >>> import sympy
    >>> x0, x1, a, b = sympy.symbols("x0 x1 a b")
    >>> q0, q1 = cirq.LineQubit.range(2)
    >>> circuit = cirq.Circuit(cirq.rx(x0)(q0), cirq.rx(x1)(q1), cirq.ry(a)(q0),
    ...                        cirq.ry(b)(q1), cirq.CNOT(q0, q1))
    >>> layer = PQC(circuit, ["Z0", "Z0*Z1"], data_symbols=[x0, x1])
    >>> layer(np.zeros((3, 2), np.float32)).shape
    TensorShape([3, 2])
    """

    def __init__(self, circuit, observables, data_symbols=(), weight_symbols=None,
                 engine="auto", differentiator=None, repetitions=None, noise=None,
                 trajectories=1000, state_dtype="complex64", initializer=None,
                 initial_values=None, regularizer=None, constraint=None, **kwargs):
        super().__init__(**kwargs)
        self._weight_spec = CircuitWeights(circuit, data_symbols, weight_symbols, initial_values,
                                           initializer, regularizer, constraint)
        self.circuit = self._weight_spec.circuit
        self.data_symbols, self.weight_symbols = self._weight_spec.data_symbols, \
            self._weight_spec.weight_symbols
        self.initial_values = self._weight_spec.initial_values
        self.compiled_circuit = CompiledCircuit(
            self.circuit, self._weight_spec.symbols, engine=engine, differentiator=differentiator,
            repetitions=repetitions, noise=noise, trajectories=trajectories,
            state_dtype=state_dtype)
        self.observables = self.compiled_circuit.prepare(observables)
        self.supports_jit = self.compiled_circuit.supports_jit

    @property
    def engine(self):
        """The engine that simulates this layer: ``"statevector"`` or ``"qsim"`` (also for a
        Cirq backend, which runs on the qsim engine's code path: see :attr:`backend`). Under XLA
        the layer runs on :attr:`xla_engine` instead."""
        return self.compiled_circuit.engine

    @property
    def xla_engine(self):
        """The engine that simulates this layer in a step XLA compiles: ``"statevector"``, or
        None when the layer cannot run under XLA. ``engine="auto"`` picks qsim above
        ``ops.EXPECTATION_STATEVECTOR_MAX_QUBITS`` qubits, but under XLA statevector, the faster
        one there, up to ``ops.XLA_STATEVECTOR_MAX_QUBITS``."""
        return self.compiled_circuit.xla_engine

    @property
    def backend(self):
        """The Cirq backend that simulates this layer, or None."""
        return self.compiled_circuit.backend

    @property
    def second_order_blocker(self):
        """The first gate without second derivatives on this layer's engine, or None."""
        return self.compiled_circuit.second_order_blocker

    @property
    def n_weights(self):
        return len(self.weight_symbols)

    @property
    def input_scale_mask(self):
        """Which weights scale data: a bool ``[n_weights]``, True for a weight that shares a gate
        with a data symbol (e.g. ``s`` in ``rx(s * x)``).

        Such a weight's gradient carries the feature's size as a factor, so it can differ from the
        other angles' by orders of magnitude; the meta-learner gives it a step size of its own.
        """
        return self._weight_spec.input_scale_mask

    def build(self, input_shape):
        if _is_pair(input_shape):
            _tfq.require(QUANTUM_DATA)
            self._check_feature_shape(input_shape[1])
        elif self.data_symbols:
            self._check_feature_shape(input_shape)
        self.circuit_weights = self._weight_spec.add_to(self)

    def call(self, inputs):
        return self.call_with_weights(inputs, self.circuit_weights)

    def call_with_weights(self, inputs, weights):
        """The layer's output with the given circuit weights instead of ``circuit_weights``.

        Meta-learning uses this to simulate many tasks in one engine call, each example with the
        weights of its own task.

        Args:
            inputs: as for ``call``.
            weights: float ``[n_weights]`` shared by the batch, or ``[batch, n_weights]``, one row
                per example. Gradients flow to ``weights`` (to any order).

        Returns:
            float32 ``[batch, len(observables)]``.
        """
        weights = tf.convert_to_tensor(weights)
        if weights.shape.rank is not None and weights.shape[-1] not in (None, self.n_weights):
            raise ValueError(f"`weights` must have shape [{self.n_weights}] or [batch, "
                             f"{self.n_weights}], one value per weight symbol; got shape "
                             f"{tuple(weights.shape)}.")
        return self._expectations(inputs, weights, self.observables)

    def measurement(self, observables):
        """A function ``inputs -> expectations`` of other observables on this layer's state.

        The circuit, weights and simulation options are this layer's; only what is measured
        differs. Distillation uses it to compare a teacher's and a student's circuits on
        observables their models never output.

        Args:
            observables: as for the constructor, on this circuit's qubits.

        Returns:
            A function of the layer's inputs returning float32 ``[batch, len(observables)]``,
            differentiable with respect to the inputs and ``circuit_weights``.
        """
        observables = self.compiled_circuit.prepare(observables)
        return lambda inputs: self._expectations(inputs, self.circuit_weights, observables)

    def resolved_circuits(self, inputs):
        """This layer's circuit for each example, every symbol replaced by its current value.

        The result runs on plain Cirq (or a device) without tfq_meta: simulating
        ``circuits[i]`` and measuring ``observables`` gives row ``i`` of the layer's output (exact
        expectations; shots and noise are simulation options, not part of the circuit).

        Args:
            inputs: as for ``call``: features ``[batch, len(data_symbols)]``, or
                ``[data_circuits, features]`` (each data circuit is prepended to its example's
                circuit), or ``data_circuits`` alone when there are no data symbols.

        Returns:
            A :class:`tfq_meta.resolved.ResolvedCircuits` with ``circuits`` (one
            ``cirq.Circuit`` per example, without free symbols), ``observables``
            (``cirq.PauliSum``), ``qubits`` and ``to_qasm()``.

        Example:
        >>> import sympy
        >>> x, a = sympy.symbols("x a")
        >>> layer = PQC(cirq.Circuit(cirq.rx(a * x)(cirq.LineQubit(0))), "Z0", data_symbols=[x],
        ...             initial_values={"a": 0.5})
        >>> layer.build((None, 1))
        >>> print(layer.resolved_circuits(np.array([[2.0]])).circuits[0])
        0: ───Rx(0.318π)───
        """
        # The model-level walk in tfq_meta.resolved imports this layer.
        from tfq_meta.resolved import ResolvedCircuits
        if not self.built:
            raise ValueError(f"PQC layer {self.name!r} has no weights yet: call it on features "
                             "(or build it) before asking for its resolved circuits.")
        data_circuits, features = self._split_inputs(inputs)
        features = np.asarray(features, np.float64)
        weights = np.asarray(keras.ops.convert_to_numpy(self.circuit_weights), np.float64)
        names = [str(s) for s in self.data_symbols + self.weight_symbols]
        if data_circuits is None:
            circuits = [self.circuit] * len(features)
        else:
            tfq = _tfq.require(QUANTUM_DATA)
            circuits = [c + self.circuit for c in tfq.from_tensor(data_circuits)]
            if len(circuits) != len(features):
                raise ValueError(f"`data_circuits` has {len(circuits)} circuits but `features` "
                                 f"{len(features)} rows: give one circuit per example.")
        resolved = [cirq.resolve_parameters(c, dict(zip(names, [*row, *weights])))
                    for c, row in zip(circuits, features)]
        return ResolvedCircuits(resolved, list(self.observables))

    def _expectations(self, inputs, weights, observables):
        """features -> symbol values (features next to weights) -> the compiled circuit."""
        data_circuits, features = self._split_inputs(inputs)
        batch = tf.shape(features if data_circuits is None else data_circuits)[0]
        symbol_values = self._weight_spec.symbol_values(features, weights, batch)
        expectations = self.compiled_circuit.expectations(symbol_values, observables,
                                                          data_circuits)
        return tf.cast(expectations, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        feature_shape = input_shape[1] if _is_pair(input_shape) else input_shape
        return (feature_shape[0], len(self.observables))

    def _split_inputs(self, inputs):
        data_circuits, features = None, inputs
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != 2:
                raise ValueError("PQC inputs must be `features` or `[data_circuits, features]`; "
                                 f"got a list of {len(inputs)} tensors.")
            data_circuits, features = inputs
        elif getattr(inputs, "dtype", None) == tf.string and not self.data_symbols:
            data_circuits = inputs
            features = tf.zeros([tf.shape(inputs)[0], 0], tf.float32)
        if data_circuits is not None:
            data_circuits = tf.convert_to_tensor(data_circuits)
            if data_circuits.dtype != tf.string:
                raise TypeError("`data_circuits` must be a string tensor from "
                                f"tfq.convert_to_tensor; got dtype {data_circuits.dtype.name}.")
        features = self._check_features(features)
        if data_circuits is not None:
            data_circuits = check_data_circuits(data_circuits, features,
                                                self.compiled_circuit.qubits)
        return data_circuits, features

    def _check_features(self, features):
        features = tf.convert_to_tensor(features)
        dtype = features.dtype
        if not (dtype.is_floating or dtype.is_integer) or dtype == tf.bool:
            raise TypeError(f"`features` must be a float or int tensor; got dtype "
                            f"{features.dtype.name}.")
        self._check_feature_shape(features.shape)
        features = tf.cast(features, self.compiled_circuit.output_dtype)
        return checked_finite(features, "`features` contains NaN or infinite values; circuit "
                              "angles must be finite.")

    def _check_feature_shape(self, shape):
        shape = tuple(shape)
        if len(shape) != 2:
            raise ValueError(f"`features` must have shape [batch, {len(self.data_symbols)}]; got "
                             f"shape {shape}.")
        n_features = shape[-1]
        if n_features is not None and n_features != len(self.data_symbols):
            raise ValueError(
                f"`features` has {n_features} columns, but the circuit has "
                f"{len(self.data_symbols)} data symbols {[str(s) for s in self.data_symbols]}: "
                "give one feature per data symbol."
            )

    def get_config(self):
        config = super().get_config()
        compiled = self.compiled_circuit
        config.update(
            circuit=circuit_to_json(self.circuit),
            observables=[cirq.to_json(o) for o in self.observables],
            **self._weight_spec.config(),
            engine=(compiled.requested_engine if compiled.backend is None
                    else BackendReference(compiled.backend)),
            differentiator=compiled.differentiator,
            repetitions=compiled.repetitions,
            noise=None if compiled.noise is None else _noise_to_json(compiled.noise),
            trajectories=compiled.trajectories,
            state_dtype=compiled.state_dtype,
            initializer=keras.initializers.serialize(self._weight_spec.initializer),
            regularizer=keras.regularizers.serialize(self._weight_spec.regularizer),
            constraint=keras.constraints.serialize(self._weight_spec.constraint),
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["circuit"] = circuit_from_json(config["circuit"])
        config["observables"] = [cirq.read_json(json_text=o) for o in config["observables"]]
        if config.get("noise") is not None:
            config["noise"] = noise_model(cirq.read_json(json_text=config["noise"]))
        for key, getter in (("initializer", keras.initializers.deserialize),
                            ("regularizer", keras.regularizers.deserialize),
                            ("constraint", keras.constraints.deserialize)):
            if config.get(key) is not None:
                config[key] = getter(config[key])
        return cls(**config)


def _noise_to_json(noise):
    try:
        return cirq.to_json(noise)
    except TypeError:
        raise TypeError(f"`noise` {noise!r} has no Cirq JSON form, so this layer cannot be "
                        "saved: use a Cirq channel or a built-in cirq.NoiseModel.") from None


def _is_pair(shape):
    """True for the input shape of ``[data_circuits, features]``."""
    return isinstance(shape, (list, tuple)) and len(shape) == 2 and isinstance(
        shape[0], (list, tuple))

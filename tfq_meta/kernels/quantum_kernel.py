"""QuantumKernel: the fidelity kernel |⟨ψ(x)|ψ(x')⟩|² of a data-encoding circuit."""
import keras
import tensorflow as tf

from tfq_meta.fidelity import CircuitFidelity, overlaps_squared
from tfq_meta.kernels.base import KernelLayer
from tfq_meta.layers.circuit_weights import CircuitWeights
from tfq_meta.serialization import circuit_to_json


@keras.saving.register_keras_serializable(package="tfq_meta")
class QuantumKernel(KernelLayer):
    """Fidelity kernel ``k(x, x') = |⟨ψ(x)|ψ(x')⟩|²`` of a data-encoding circuit ``U(x)|0…0⟩``.

    The circuit's ``data_symbols`` take the features; any other symbol is a trainable weight of
    the embedding (``circuit_weights``), so the kernel can be trained (kernel-target alignment,
    :class:`tfq_meta.kernels.KernelAlignment`) or meta-learned
    (:class:`tfq_meta.kernels.KernelMetaLearner`).

    A Gram matrix of ``N`` rows and ``M`` columns costs ``N + M`` state simulations and one
    matrix product on the ``"statevector"`` method (exact gradients), or ``N · M`` overlaps on
    the ``"pairwise"`` one (``tfq.math.fidelity``; circuits too large for state vectors in
    memory); ``"auto"`` picks (see :mod:`tfq_meta.fidelity`).

    Inputs: ``x`` ``[N, n_features]`` and optionally ``y`` ``[M, n_features]``.
    Output: float32 ``[N, M]`` (``[N, N]`` without ``y``), entries in ``[0, 1]``, ones on the
    diagonal of ``k(x, x)``; symmetric and positive semi-definite.

    Args:
        circuit: a ``cirq.Circuit`` or a :class:`tfq_meta.circuits.CircuitSpec` (e.g.
            ``circuits.angle_encoding(4)`` or a ``reuploading_circuit``).
        data_symbols: the symbols fed by the features, in feature order (taken from a spec).
        weight_symbols: explicit order of the trainable symbols; default every other symbol.
        method: ``"auto"``, ``"statevector"`` or ``"pairwise"`` (needs TensorFlow Quantum,
            :mod:`tfq_meta._tfq`).
        state_dtype: ``"complex64"`` or ``"complex128"`` (statevector).
        initializer: Keras initializer of the weights; default uniform in ``[0, 2π)``.
        initial_values: ``{symbol name: value}`` overriding the initializer.

    Example:
    >>> import numpy as np
    >>> from tfq_meta import circuits
    >>> kernel = QuantumKernel(circuits.angle_encoding(2))
    >>> x = np.array([[0.0, 0.0], [np.pi, 0.0]], np.float32)
    >>> kernel.gram(x).round(6)                 # Π cos²((x_q - x'_q) / 2)
    array([[1., 0.],
           [0., 1.]])
    """

    def __init__(self, circuit, data_symbols=(), weight_symbols=None, method="auto",
                 state_dtype="complex64", initializer=None, initial_values=None, **kwargs):
        super().__init__(**kwargs)
        self._weight_spec = CircuitWeights(circuit, data_symbols, weight_symbols, initial_values,
                                           initializer)
        self.circuit, self.data_symbols = self._weight_spec.circuit, self._weight_spec.data_symbols
        if not self.data_symbols:
            raise ValueError("`data_symbols` is empty: a kernel needs the symbols that encode "
                             "the features.")
        self.weight_symbols = self._weight_spec.weight_symbols
        self.initial_values = self._weight_spec.initial_values
        self._fidelity = CircuitFidelity(self.circuit, self._weight_spec.symbols, method,
                                         state_dtype)
        self.method, self.state_dtype = self._fidelity.method, state_dtype
        # The pairwise method runs TFQ ops, which XLA cannot compile; XLA would also drop the
        # check of angles that can be non-finite.
        self.supports_jit = (self.method == "statevector" and
                             self._fidelity.compiled.lowered.angles_always_finite)
        self._requested_method = method
        self.n_features = len(self.data_symbols)
        self.n_qubits = len(self._fidelity.qubits)

    def build(self, x_shape=None, y_shape=None):
        self.circuit_weights = self._weight_spec.add_to(self)

    def call(self, x, y=None):
        self.check_feature_shape(x, "x")
        if y is not None:
            self.check_feature_shape(y, "y")
        x_values = self._symbol_values(x)
        return tf.cast(self._fidelity(x_values, None if y is None else self._symbol_values(y)),
                       self.compute_dtype)

    def check_differentiable(self, user):
        if self.method != "statevector":
            raise ValueError(f"{user} trains the kernel's weights, which needs exact gradients: "
                             "use method='statevector' (this kernel is pairwise, on "
                             "tfq.math.fidelity, which resolves one side of every overlap).")

    def states(self, x):
        """The embedded states ``ψ(x)`` ``[N, 2^n]`` (statevector method)."""
        self.check_feature_shape(x, "x")
        if not self.built:
            self.build()
        return self._fidelity.states(self._symbol_values(x))

    embed = states

    @staticmethod
    def kernel_of_embeddings(a, b):
        """``|⟨a_i|b_j⟩|²`` of batched states ``[..., N, D]`` and ``[..., M, D]``."""
        return overlaps_squared(a, b)

    def _symbol_values(self, features):
        features = tf.cast(features, self._fidelity.output_dtype)
        return self._weight_spec.symbol_values(features, self.circuit_weights)

    def compute_output_shape(self, x_shape, y_shape=None):
        return (x_shape[0], (y_shape or x_shape)[0])

    def get_config(self):
        config = super().get_config()
        config.update(circuit=circuit_to_json(self.circuit), **self._weight_spec.config(),
                      method=self._requested_method, state_dtype=self.state_dtype,
                      initializer=keras.initializers.serialize(self._weight_spec.initializer))
        return config

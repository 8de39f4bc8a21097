"""ProjectedQuantumKernel: a Gaussian kernel on the one-qubit reduced states of an embedding."""
import cirq
import keras
import tensorflow as tf

from tfq_meta._validation import check_positive_float
from tfq_meta.circuits import CircuitSpec
from tfq_meta.kernels.base import KernelLayer
from tfq_meta.layers.pqc import PQC


@keras.saving.register_keras_serializable(package="tfq_meta")
class ProjectedQuantumKernel(KernelLayer):
    """Projected quantum kernel (PQK): ``k(x, x') = exp(-γ Σ_q Σ_P (⟨P_q⟩_x − ⟨P_q⟩_x')²)``.

    Each example is embedded by the circuit, then *projected* to the ``3n`` expectation values
    of ``X``, ``Y`` and ``Z`` on each of its ``n`` qubits (its one-qubit reduced density
    matrices), and compared by a Gaussian kernel (Huang et al., "Power of data in quantum machine
    learning", 2021; TensorFlow Quantum's quantum-data tutorial). It needs ``N + M``
    expectation evaluations, on either engine: with ``engine="qsim"`` (or ``"auto"``) it scales
    to circuits whose states do not fit in memory as a whole.

    Args:
        circuit: a ``cirq.Circuit`` or a :class:`tfq_meta.circuits.CircuitSpec`.
        data_symbols: the symbols fed by the features (taken from a spec).
        gamma: positive width parameter ``γ``.
        weight_symbols, engine, initializer, initial_values: as for
            :class:`tfq_meta.layers.PQC`, which computes the projection (``self.embedding``).

    Example:
    >>> import numpy as np
    >>> from tfq_meta import circuits
    >>> kernel = ProjectedQuantumKernel(circuits.angle_encoding(1), gamma=0.5)
    >>> x = np.array([[0.0], [np.pi]], np.float32)          # Bloch vectors (0,0,1) and (0,0,-1)
    >>> kernel.gram(x).round(6)                             # exp(-0.5 * 2²)
    array([[1.      , 0.135335],
           [0.135335, 1.      ]])
    """

    def __init__(self, circuit, data_symbols=(), gamma=1.0, weight_symbols=None, engine="auto",
                 initializer=None, initial_values=None, **kwargs):
        super().__init__(**kwargs)
        self.gamma = check_positive_float(gamma, "gamma")
        spec_circuit = circuit.circuit if isinstance(circuit, CircuitSpec) else circuit
        if not isinstance(spec_circuit, cirq.Circuit):
            raise TypeError("`circuit` must be a cirq.Circuit or a tfq_meta CircuitSpec; got "
                            f"{type(circuit).__name__}.")
        n_qubits = len(spec_circuit.all_qubits())
        observables = [f"{pauli}{q}" for q in range(n_qubits) for pauli in "XYZ"]
        self.embedding = PQC(circuit, observables, data_symbols=data_symbols,
                             weight_symbols=weight_symbols, engine=engine,
                             initializer=initializer, initial_values=initial_values,
                             name="embedding")
        if not self.embedding.data_symbols:
            raise ValueError("`data_symbols` is empty: a kernel needs the symbols that encode "
                             "the features.")
        self.n_features = len(self.embedding.data_symbols)
        self.n_qubits = n_qubits

    def build(self, x_shape=None, y_shape=None):
        if not self.embedding.built:  # projections() may have built it already
            self.embedding.build((None, self.n_features))

    def projections(self, x):
        """The ``[N, 3n]`` expectations ``⟨X_0⟩, ⟨Y_0⟩, ⟨Z_0⟩, ⟨X_1⟩, …`` of each example."""
        self.check_feature_shape(x, "x")
        if not self.built:
            self.build()
        return self.embedding(x)

    embed = projections

    def call(self, x, y=None):
        self.check_feature_shape(x, "x")
        if y is not None:
            self.check_feature_shape(y, "y")
        a = self.embedding(x)
        return self.kernel_of_embeddings(a, a if y is None else self.embedding(y))

    def kernel_of_embeddings(self, a, b):
        """``exp(-γ ‖a_i − b_j‖²)`` of batched projections ``[..., N, 3n]`` and ``[..., M, 3n]``."""
        squared = (tf.reduce_sum(a * a, -1)[..., :, tf.newaxis]
                   + tf.reduce_sum(b * b, -1)[..., tf.newaxis, :]
                   - 2.0 * tf.matmul(a, b, transpose_b=True))
        return tf.exp(-self.gamma * tf.maximum(squared, 0.0))

    def compute_output_shape(self, x_shape, y_shape=None):
        return (x_shape[0], (y_shape or x_shape)[0])

    def get_config(self):
        config = super().get_config()
        embedding = self.embedding.get_config()
        config.update(gamma=self.gamma, **{key: embedding[key] for key in (
            "circuit", "data_symbols", "weight_symbols", "engine", "initializer",
            "initial_values")})
        return config

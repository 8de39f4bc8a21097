"""Bad input to kernels gets a clear error naming the argument, before any simulation."""
import numpy as np
import pytest

from tfq_meta import circuits
from tfq_meta.kernels import (QSVC, KernelAlignment, KernelMetaLearner, ProjectedQuantumKernel,
                              QuantumKernel)


@pytest.fixture(scope="module")
def kernel():
    return QuantumKernel(circuits.angle_encoding(3))


@pytest.mark.parametrize("x, error, message", [
    (np.zeros((4, 2)), ValueError, r"`x` must have shape \[n_samples, 3\].*got shape \[4, 2\]"),
    (np.zeros(3), ValueError, r"`x` must have shape \[n_samples, 3\].*got shape \[3\]"),
    (np.array([[0.0, np.nan, 1.0]]), ValueError, "`x` contains NaN or infinite values"),
    (np.array([[0.0, np.inf, 1.0]]), ValueError, "`x` contains NaN or infinite values"),
    (np.array([["a", "b", "c"]]), TypeError, "`x` must be numeric features"),
])
def test_features_are_checked(kernel, x, error, message):
    with pytest.raises(error, match=message):
        kernel.gram(x)


def test_second_argument_is_checked_too(kernel):
    with pytest.raises(ValueError, match=r"`y` must have shape \[n_samples, 3\]"):
        kernel.gram(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"`X` must have shape \[n_samples, 3\]"):
        QSVC(kernel).fit(np.zeros((4, 3)), [0, 1, 0, 1]).predict(np.zeros((2, 5)))


@pytest.mark.parametrize("method, message", [
    ("statevector", r"30 qubits .* needs about .* per example"),
    ("pairwise", r"30 qubits: one state vector takes 8.0 GiB"),
])
def test_too_many_qubits_says_how_much_memory(method, message, monkeypatch):
    import tfq_meta.memory as memory
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 4 * 2 ** 30)  # a 4 GiB machine
    with pytest.raises(ValueError, match=message):
        QuantumKernel(circuits.angle_encoding(30), method=method)


def test_bad_arguments():
    encoding = circuits.angle_encoding(2)
    with pytest.raises(ValueError, match=r"`method` must be one of \['auto', 'statevector', "
                                         r"'pairwise'\]"):
        QuantumKernel(encoding, method="exact")
    with pytest.raises(ValueError, match="`data_symbols` is empty"):
        QuantumKernel(circuits.hardware_efficient_ansatz(2))
    with pytest.raises(ValueError, match="`gamma` must be a positive finite number"):
        ProjectedQuantumKernel(encoding, gamma=0.0)
    with pytest.raises(TypeError, match="`kernel` must be a tfq_meta QuantumKernel"):
        QSVC(kernel="rbf").fit(np.zeros((4, 2)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"`n_ways` must be an int >= 2"):
        KernelMetaLearner(QuantumKernel(encoding), n_ways=1)
    with pytest.raises(ValueError, match="`ridge` must be a positive finite number"):
        KernelMetaLearner(QuantumKernel(encoding), n_ways=2, ridge=-1.0)


def test_training_a_pairwise_kernel_is_refused():
    pairwise = QuantumKernel(circuits.angle_encoding(2), method="pairwise")
    with pytest.raises(ValueError, match="KernelMetaLearner trains .* method='statevector'"):
        KernelMetaLearner(pairwise, n_ways=2)
    with pytest.raises(ValueError, match="KernelAlignment trains .* method='statevector'"):
        KernelAlignment(pairwise)


def test_pairwise_gradients_are_refused_with_the_fix():
    import tensorflow as tf
    kernel = QuantumKernel(circuits.reuploading_circuit(2, 1), method="pairwise")
    kernel.build()
    x = tf.constant(np.full((3, 2), 0.5), tf.float32)
    with tf.GradientTape() as tape:
        gram = kernel(x)
    with pytest.raises(ValueError, match="method='pairwise' has no gradients; use "
                                         "method='statevector'"):
        tape.gradient(gram, kernel.circuit_weights)

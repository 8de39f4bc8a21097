"""Small teacher/student pairs and independent references for the distillation tests: NumPy
formulas for the losses, Cirq's exact simulator for observables measured on the circuits."""
import cirq
import keras
import numpy as np

from conftest import resolver
from tfq_meta import models

def classifiers(n_features=2, n_classes=3, seed=0):
    keras.utils.set_random_seed(seed)
    teacher = models.teacher(n_features, n_classes, "classification", n_qubits=3, n_layers=2)
    student = models.student(n_features, n_classes, "classification", n_qubits=2, n_layers=1)
    return teacher, student


def features(rng, n, n_features=2):
    return rng.uniform(0, np.pi, (n, n_features)).astype(np.float32)


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def kl_with_temperature(teacher_logits, student_logits, temperature):
    p = log_softmax(np.float64(teacher_logits) / temperature)
    q = log_softmax(np.float64(student_logits) / temperature)
    return temperature ** 2 * np.mean(np.sum(np.exp(p) * (p - q), axis=-1))


def kl_float32_rounding(teacher_logits, student_logits, temperature):
    """How far float32 arithmetic may take :func:`kl_with_temperature`'s formula from its value:
    each log-softmax value ``v`` carries up to about ``2|v|·ε`` of rounding (ε: float32's), so the
    loss up to ``T² · mean Σ e^p (|p| + |q|) · 2ε``. Where the KL is small against its terms (close
    distributions), that exceeds a relative 1e-5."""
    p = log_softmax(np.float64(teacher_logits) / temperature)
    q = log_softmax(np.float64(student_logits) / temperature)
    terms = np.mean(np.sum(np.exp(p) * (np.abs(p) + np.abs(q)), axis=-1))
    return temperature ** 2 * terms * 2 * np.finfo(np.float32).eps


def cross_entropy(labels, logits, weights=None):
    losses = -log_softmax(np.float64(logits))[np.arange(len(labels)), labels]
    weights = np.ones(len(labels)) if weights is None else weights
    return np.sum(weights * losses) / len(labels)  # Keras' "sum_over_batch_size"


def cirq_observables(layer, x, observables):
    """Exact ⟨O⟩ [batch, k] of ``layer``'s circuit at its current weights (Cirq, complex128)."""
    simulator = cirq.Simulator(dtype=np.complex128)
    return np.array([np.real(simulator.simulate_expectation_values(
        layer.circuit, observables, param_resolver=resolver(layer, row),
        qubit_order=sorted(layer.circuit.all_qubits()))) for row in x])

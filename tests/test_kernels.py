"""Quantum kernels against Cirq: fidelity and projected kernels, the state-vector and pairwise
methods, Gram matrices of meta-batches, and QSVC against scikit-learn's SVC on the same Gram."""
import cirq
import numpy as np
import pytest
import tensorflow as tf
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.svm import SVC

from conftest import resolver
from tfq_meta import circuits
from tfq_meta.kernels import QSVC, ProjectedQuantumKernel, QuantumKernel


def embedding(n_qubits=3, n_features=3):
    """A trainable, entangling embedding: re-uploading with input scales."""
    return circuits.reuploading_circuit(n_qubits, 2, n_features=n_features, trainable_scaling=True)


def cirq_states(kernel, x):
    """Final states of ``kernel``'s circuit for each row of ``x`` (Cirq, complex128)."""
    simulator = cirq.Simulator(dtype=np.complex128)
    qubits = sorted(kernel.circuit.all_qubits())
    weights = np.asarray(kernel.circuit_weights)
    return np.array([simulator.simulate(kernel.circuit, resolver(kernel, row, weights),
                                        qubit_order=qubits).final_state_vector for row in x])


def cirq_gram(kernel, x, y):
    a, b = cirq_states(kernel, x), cirq_states(kernel, y)
    return np.abs(a.conj() @ b.T) ** 2


@pytest.fixture
def trained_weights_kernel(rng):
    def make(method):
        kernel = QuantumKernel(embedding(), method=method)
        kernel.build()
        kernel.circuit_weights.assign(rng.uniform(-2, 2, len(kernel.weight_symbols)))
        return kernel
    return make


@pytest.mark.parametrize("method", ["statevector", "pairwise"])
def test_fidelity_kernel_equals_cirq_overlaps(rng, trained_weights_kernel, method):
    kernel = trained_weights_kernel(method)
    assert kernel.method == method
    x, y = rng.uniform(0, np.pi, (6, 3)), rng.uniform(0, np.pi, (4, 3))
    np.testing.assert_allclose(kernel.gram(x, y), cirq_gram(kernel, x, y), atol=1e-5)
    gram = kernel.gram(x)
    np.testing.assert_allclose(gram, cirq_gram(kernel, x, x), atol=1e-5)
    np.testing.assert_allclose(gram, gram.T, atol=1e-6)
    np.testing.assert_allclose(np.diag(gram), 1.0, atol=1e-5)
    assert np.linalg.eigvalsh(gram).min() > -1e-5


def test_statevector_and_pairwise_methods_agree(rng):
    statevector = QuantumKernel(embedding(4, 4), method="statevector")
    statevector.build()
    pairwise = QuantumKernel(embedding(4, 4), method="pairwise")
    pairwise.build()
    pairwise.circuit_weights.assign(statevector.circuit_weights)
    x, y = rng.uniform(0, np.pi, (20, 4)), rng.uniform(0, np.pi, (17, 4))  # > one row block
    np.testing.assert_allclose(statevector.gram(x, y), pairwise.gram(x, y), atol=1e-5)


def test_projected_kernel_equals_cirq_reduced_states(rng):
    kernel = ProjectedQuantumKernel(embedding(), gamma=0.7)
    x, y = rng.uniform(0, np.pi, (5, 3)), rng.uniform(0, np.pi, (3, 3))
    gram = kernel.gram(x, y)
    layer = kernel.embedding
    qubits = sorted(layer.circuit.all_qubits())

    def bloch_vectors(points):
        simulator = cirq.Simulator(dtype=np.complex128)
        paulis = [p(q) for q in qubits for p in (cirq.X, cirq.Y, cirq.Z)]
        return np.array([np.real(simulator.simulate_expectation_values(
            layer.circuit, paulis, param_resolver=resolver(layer, row), qubit_order=qubits))
            for row in points])

    a, b = bloch_vectors(x), bloch_vectors(y)
    expected = np.exp(-0.7 * ((a[:, None] - b[None]) ** 2).sum(-1))
    np.testing.assert_allclose(gram, expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["fidelity", "projected"])
def test_task_grams_equal_each_tasks_own_gram(rng, kind):
    kernel = QuantumKernel(embedding()) if kind == "fidelity" else \
        ProjectedQuantumKernel(embedding())
    support, query = rng.uniform(0, np.pi, (3, 4, 3)), rng.uniform(0, np.pi, (3, 5, 3))
    support_gram, query_gram = kernel.task_grams(tf.constant(support, tf.float32),
                                                 tf.constant(query, tf.float32))
    for t in range(3):
        np.testing.assert_allclose(support_gram[t], kernel.gram(support[t]), atol=1e-6)
        np.testing.assert_allclose(query_gram[t], kernel.gram(query[t], support[t]), atol=1e-6)


def test_config_round_trip_keeps_the_kernel(rng):
    kernel = QuantumKernel(embedding(), method="statevector", name="k")
    x = rng.uniform(0, np.pi, (4, 3))
    gram = kernel.gram(x)
    rebuilt = QuantumKernel.from_config(kernel.get_config())
    rebuilt.build()
    rebuilt.set_weights(kernel.get_weights())
    np.testing.assert_allclose(rebuilt.gram(x), gram, atol=1e-7)
    projected = ProjectedQuantumKernel(embedding(), gamma=0.3)
    gram = projected.gram(x)
    again = ProjectedQuantumKernel.from_config(projected.get_config())
    again.build()
    again.set_weights(projected.get_weights())
    assert again.gamma == 0.3
    np.testing.assert_allclose(again.gram(x), gram, atol=1e-7)


# --------------------------------------------------------------------------------------------
# QSVC
# --------------------------------------------------------------------------------------------

def two_blobs(rng, n=40):
    x = np.concatenate([rng.normal(0.9, 0.35, (n // 2, 2)), rng.normal(2.2, 0.35, (n // 2, 2))])
    return np.clip(x, 0, np.pi), np.repeat([0, 1], n // 2)


def test_qsvc_equals_svc_on_the_cirq_gram(rng, trained_weights_kernel):
    kernel = trained_weights_kernel("statevector")
    x, y = rng.uniform(0, np.pi, (30, 3)), rng.integers(0, 3, 30)
    x_test = rng.uniform(0, np.pi, (12, 3))
    qsvc = QSVC(kernel, C=2.0).fit(x, y)
    # On the same Gram matrix QSVC is SVC(kernel="precomputed"), to the last digit.
    svc = SVC(kernel="precomputed", C=2.0).fit(kernel.gram(x), y)
    np.testing.assert_array_equal(qsvc.decision_function(x_test),
                                  svc.decision_function(kernel.gram(x_test, x)))
    # On Cirq's Gram matrix (entries equal to 1e-5) the predictions are the same; the decision
    # values move by up to libsvm's tolerance.
    svc = SVC(kernel="precomputed", C=2.0).fit(cirq_gram(kernel, x, x), y)
    test_gram = cirq_gram(kernel, x_test, x)
    np.testing.assert_array_equal(qsvc.predict(x_test), svc.predict(test_gram))
    assert qsvc.score(x_test, svc.predict(test_gram)) == 1.0


def angle_encoding_gram(p, q):
    """Closed form of the rx angle-encoding kernel: k(x, x') = Π_q cos²((x_q - x'_q) / 2)."""
    return np.prod(np.cos((p[:, None] - q[None]) / 2) ** 2, axis=-1)


def test_qsvc_in_pipeline_and_grid_search_matches_manual_cross_validation(rng):
    x, y = two_blobs(rng)
    x = x * 3.0 - 1.0  # raw features; the pipeline's scaler maps them to angles
    kernel = QuantumKernel(circuits.angle_encoding(2))
    pipeline = Pipeline([("angles", MinMaxScaler((0, np.pi))), ("qsvc", QSVC(kernel))])
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(pipeline, {"qsvc__C": [0.1, 1.0, 10.0]}, cv=folds).fit(x, y)

    for c, score in zip([0.1, 1.0, 10.0], search.cv_results_["mean_test_score"]):
        manual = []
        for train, test in folds.split(x, y):
            scaler = MinMaxScaler((0, np.pi)).fit(x[train])
            a, b = scaler.transform(x[train]), scaler.transform(x[test])
            svc = SVC(kernel="precomputed", C=c).fit(angle_encoding_gram(a, a), y[train])
            manual.append(svc.score(angle_encoding_gram(b, a), y[test]))
        assert score == pytest.approx(np.mean(manual), abs=1e-9), c
    assert search.best_score_ > 0.9


@pytest.mark.parametrize("kernel_class", [QuantumKernel, ProjectedQuantumKernel])
def test_clones_of_an_unbuilt_trainable_kernel_give_identical_folds(rng, kernel_class):
    """Cross-validation clones the QSVC per fold; a trainable kernel not yet built must not draw
    new random weights in each clone: every fold's Gram matrix is the original kernel's."""
    x, y = two_blobs(rng, n=12)
    kernel = kernel_class(circuits.reuploading_circuit(2, 1, trainable_scaling=True))
    qsvc = QSVC(kernel)
    folds = [clone(qsvc).fit(x, y) for _ in range(3)]
    for fold in folds:
        assert fold.kernel_ is not kernel
        np.testing.assert_array_equal(fold.kernel_.gram(x), kernel.gram(x))
    scores = cross_val_score(qsvc, x, y, cv=StratifiedKFold(3))
    again = cross_val_score(qsvc, x, y, cv=StratifiedKFold(3))
    np.testing.assert_array_equal(scores, again)

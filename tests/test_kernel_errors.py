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


@pytest.mark.parametrize("make", [lambda c: QuantumKernel(c), lambda c: ProjectedQuantumKernel(c)])
@pytest.mark.parametrize("x, y, message", [
    (np.zeros((3, 3)), None, r"`x` must have shape \[n_samples, 2\].*got shape \[3, 3\]"),
    (np.zeros(3), None, r"`x` must have shape \[n_samples, 2\].*got shape \[3\]"),
    (np.zeros((3, 2)), np.zeros((3, 4)), r"`y` must have shape \[n_samples, 2\].*got shape "
                                         r"\[3, 4\]"),
])
def test_calling_a_kernel_checks_the_feature_shape(make, x, y, message):
    import tensorflow as tf
    kernel = make(circuits.angle_encoding(2))
    args = [tf.constant(x, tf.float32)] + ([] if y is None else [tf.constant(y, tf.float32)])
    with pytest.raises(ValueError, match=message):
        kernel(*args)


@pytest.mark.parametrize("kernel_class", [QuantumKernel, ProjectedQuantumKernel])
def test_circuit_must_be_a_circuit(kernel_class):
    with pytest.raises(TypeError, match="`circuit` must be a cirq.Circuit or a tfq_meta "
                                        "CircuitSpec; got str"):
        kernel_class("str")


def aligner():
    aligner = KernelAlignment(QuantumKernel(circuits.reuploading_circuit(2, 1)))
    aligner.compile(optimizer="adam")
    return aligner


def test_alignment_fit_refuses_nan_features_before_training():
    x = np.full((4, 2), 0.5, np.float32)
    x[1, 0] = np.nan
    model = aligner()
    weights = model.kernel.get_weights()[0].copy()
    with pytest.raises(ValueError, match="`x` contains NaN or infinite values"):
        model.fit(x, np.array([0, 1, 0, 1]), epochs=1, verbose=0)
    np.testing.assert_array_equal(model.kernel.get_weights()[0], weights)


def test_alignment_fit_refuses_a_wrong_feature_width():
    with pytest.raises(ValueError, match=r"`x` must have shape \[n_samples, 2\].*got shape "
                                         r"\[4, 3\]"):
        aligner().fit(np.zeros((4, 3), np.float32), np.array([0, 1, 0, 1]), verbose=0)


@pytest.mark.parametrize("gram, labels, message", [
    (np.zeros((3, 3)), [0, 1, 0], "`gram` is a zero matrix: kernel-target alignment is "
                                  "undefined"),
    (np.ones((3, 4)), [0, 1, 0], r"`gram` must be square Gram matrices \[..., N, N\]"),
    (np.ones((3, 3)), [0, 1], r"`labels` must have shape \(3,\) \(one label per row"),
    (np.array([[1.0, np.nan, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), [0, 1, 0],
     "`gram` holds NaN or infinite values; Gram matrices must be finite"),
])
def test_alignment_of_bad_gram_matrices(gram, labels, message):
    from tfq_meta.kernels import kernel_target_alignment
    with pytest.raises(ValueError, match=message):
        kernel_target_alignment(gram, labels)


def meta_learner():
    learner = KernelMetaLearner(QuantumKernel(circuits.reuploading_circuit(2, 1)), n_ways=2)
    learner.compile(optimizer="adam")
    return learner


def episode(n_features=2, nan=False):
    x = np.full((2, 2, n_features), 0.5, np.float32)
    if nan:
        x[1, 0, 0] = np.nan
    y = np.array([[0, 1], [1, 0]], np.int32)
    return {"support_x": x, "support_y": y, "query_x": x.copy(), "query_y": y}


@pytest.mark.parametrize("as_dataset", [False, True])
def test_meta_learner_names_the_episode_key_and_the_feature_count(as_dataset):
    import tensorflow as tf
    data = episode(n_features=4)
    data = tf.data.Dataset.from_tensors(data).repeat() if as_dataset else data
    with pytest.raises(ValueError, match=r"`episodes\['support_x'\]` must be shaped \[tasks, "
                                         r"shots, 2\] \(the kernel's feature count\); got shape "
                                         r"\[.*4\]"):
        meta_learner().fit(data, epochs=1, steps_per_epoch=1, verbose=0)


def test_meta_learner_refuses_nan_features_before_the_solve():
    with pytest.raises(ValueError, match=r"`episodes\['support_x'\]` holds NaN or infinite"):
        meta_learner().fit(episode(nan=True), epochs=1, verbose=0)


def test_meta_learner_refuses_nan_features_of_a_dataset_before_the_solve():
    import tensorflow as tf
    dataset = tf.data.Dataset.from_tensors(episode(nan=True)).repeat()
    # Checked in the dataset's map, where only TensorFlow's own error can be raised.
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"`episodes\['support_x'\]` holds NaN or infinite"):
        meta_learner().fit(dataset, epochs=1, steps_per_epoch=1, verbose=0)


@pytest.mark.parametrize("method", ["predict", "decision_function", "score"])
def test_qsvc_before_fit_is_not_fitted(method):
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted
    qsvc = QSVC()
    with pytest.raises(NotFittedError):
        check_is_fitted(qsvc)
    args = (np.zeros((2, 2)),) + ((np.array([0, 1]),) if method == "score" else ())
    with pytest.raises(NotFittedError, match="This QSVC instance is not fitted yet"):
        getattr(qsvc, method)(*args)
    check_is_fitted(qsvc.fit(np.array([[0.1, 0.2], [3.0, 2.9]]), [0, 1]))


@pytest.mark.parametrize("argument, value", [("C", 0.0), ("C", -1.0), ("C", "a"),
                                             ("C", np.nan), ("tol", -1e-3)])
def test_qsvc_parameters_are_checked_before_the_gram_matrix(argument, value, monkeypatch):
    kernel = QuantumKernel(circuits.angle_encoding(2))
    monkeypatch.setattr(kernel, "gram", lambda *args: pytest.fail("computed the Gram matrix"))
    with pytest.raises(ValueError, match=f"`{argument}` must be a positive finite number"):
        QSVC(kernel, **{argument: value}).fit(np.zeros((4, 2)), [0, 1, 0, 1])


@pytest.mark.parametrize("y, error, message", [
    (np.array([0.0, np.nan, 1.0, 0.0]), ValueError, "`y` must be integer class labels; got "
                                                    "non-integer"),
    (np.eye(2)[[0, 1, 0, 1]], ValueError, r"`y` must be class labels shaped \[n_samples\].*got "
                                          r"shape \[4, 2\]"),
    (np.array(["a", "b", "a", "b"]), TypeError, "`y` must be integer class labels; got dtype "
                                                "string"),
])
def test_alignment_fit_checks_the_labels(y, error, message):
    with pytest.raises(error, match=message):
        aligner().fit(np.full((4, 2), 0.5, np.float32), y, verbose=0)


def test_alignment_fit_checks_the_labels_of_a_dataset():
    import tensorflow as tf
    dataset = tf.data.Dataset.from_tensor_slices((np.zeros((4, 2), np.float32),
                                                  np.eye(2)[[0, 1, 0, 1]])).batch(4)
    with pytest.raises(ValueError, match=r"`y` must be class labels shaped \[n_samples\]"):
        aligner().fit(dataset, verbose=0)


@pytest.mark.parametrize("key, labels", [("support_y", [[0, 5], [1, 0]]),
                                         ("query_y", [[0, -1], [1, 0]])])
@pytest.mark.parametrize("as_dataset", [False, True])
def test_meta_learner_refuses_labels_out_of_range(key, labels, as_dataset):
    import tensorflow as tf
    data = {**episode(), key: np.array(labels, np.int32)}
    data = tf.data.Dataset.from_tensors(data).repeat() if as_dataset else data
    # A dataset is checked in its map, where only TensorFlow's own error can be raised; its
    # message escapes the quotes.
    error = tf.errors.InvalidArgumentError if as_dataset else ValueError
    with pytest.raises(error, match=rf"`episodes\[\\?'{key}\\?'\]` must be class labels in "
                                    r"\[0, 2\)"):
        meta_learner().fit(data, epochs=1, steps_per_epoch=1, verbose=0)


def test_alignment_of_a_nan_gram_is_refused():
    from tfq_meta.kernels import kernel_target_alignment
    gram = np.eye(3)
    gram[0, 1] = np.nan
    with pytest.raises(ValueError, match="`gram` holds NaN or infinite values"):
        kernel_target_alignment(gram, [0, 1, 0])


@pytest.mark.parametrize("support, query, n_classes, ridge, message", [
    ((2, 3, 3), (2, 4, 3), 2, 0.0, "`ridge` must be a positive finite number"),
    ((2, 3, 3), (2, 4, 3), 0, 0.1, "`n_classes` must be an int >= 1"),
    ((2, 3, 4), (2, 4, 3), 2, 0.1, r"`support_gram` must be square Gram matrices"),
    ((2, 3, 3), (2, 4, 5), 2, 0.1, r"`query_gram` must have shape \[tasks, Q, 3\]"),
])
def test_ridge_predictions_arguments(support, query, n_classes, ridge, message):
    from tfq_meta.kernels import ridge_predictions
    with pytest.raises(ValueError, match=message):
        ridge_predictions(np.ones(support), np.zeros(support[:2], np.int32), np.ones(query),
                          n_classes, ridge)


def test_meta_learner_refuses_labels_that_are_not_numbers():
    data = {**episode(), "query_y": np.array([["a", "b"], ["b", "a"]])}
    with pytest.raises(TypeError, match=r"`episodes\['query_y'\]` must be integer class labels"):
        meta_learner().fit(data, epochs=1, verbose=0)

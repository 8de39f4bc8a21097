"""Hostile input to export and serving: a ValueError/TypeError naming the argument, raised before
anything is traced or written; a reloaded SavedModel refuses inputs that do not fit its
signature, in Python (``export.load``) or in the graph (``tf.saved_model.load``)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfq_meta import Distiller, MetaLearner, models
from tfq_meta.distillation import ExpectationDistillation
from tfq_meta.export import export, load, tfq_ops


@pytest.fixture(scope="module")
def student():
    keras.utils.set_random_seed(0)
    return models.student(n_features=1, n_qubits=2, n_layers=1)


@pytest.fixture(scope="module")
def meta():
    learner = MetaLearner(models.student(n_features=1, n_qubits=2, n_layers=1), inner_steps=1)
    learner.compile(loss="mse", jit_compile=False)
    return learner


@pytest.fixture(scope="module")
def exported(student, tmp_path_factory):
    return export(student, tmp_path_factory.mktemp("served") / "student")


@pytest.fixture
def no_tracing(monkeypatch):
    """Fails the test if export gets as far as building the SavedModel."""
    def traced(*args, **kwargs):
        raise AssertionError("export traced the model before rejecting its arguments")
    monkeypatch.setattr(keras.export.ExportArchive, "__init__", traced)


class TfKerasLike:
    """What a tf_keras model (TensorFlow Quantum's own layers) looks like to export."""


TfKerasLike.__module__ = "tf_keras.src.engine.functional"


@pytest.mark.parametrize("arguments, error, match", [
    (dict(filepath=3), TypeError, r"`filepath` must be a path \(a non-empty str or "
                                  r"pathlib.Path\); got 3"),
    (dict(filepath=None), TypeError, "`filepath` must be a path .*got None"),
    (dict(filepath=""), TypeError, "`filepath` must be a path .*got ''"),
    (dict(verbose="yes"), ValueError, "`verbose` must be True or False; got 'yes'"),
    (dict(verbose=2), ValueError, "`verbose` must be True or False; got 2"),
    (dict(overwrite="no"), ValueError, "`overwrite` must be True or False; got 'no'"),
    (dict(format="onnx"), ValueError, "`format` must be 'tf_saved_model'.*got 'onnx'"),
    (dict(adaptation_steps=2), ValueError, "`adaptation_steps` applies to a MetaLearner only"),
    (dict(input_signature=tf.TensorSpec((None, 3))), ValueError,
     r"`input_signature` must be one tf.TensorSpec .* of shape \(batch, 1\)"),
    (dict(input_signature="x"), ValueError, "`input_signature` must be one tf.TensorSpec"),
    (dict(input_signature=tf.TensorSpec((None, 1), tf.string)), ValueError,
     "`input_signature` dtype must be a float or int dtype \\(features\\); got string"),
    (dict(input_signature=[tf.TensorSpec((None, 1))] * 2), ValueError,
     "`input_signature` must be one tf.TensorSpec"),
])
def test_bad_export_arguments(student, tmp_path, no_tracing, arguments, error, match):
    arguments = {"filepath": tmp_path / "student", **arguments}
    with pytest.raises(error, match=match):
        export(student, **arguments)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("model, match", [
    ("a model", "`model` must be a keras.Model, Distiller or MetaLearner; got str"),
    (None, "got NoneType"),
    (TfKerasLike(), "got TfKerasLike from tf_keras: export takes Keras 3 models"),
])
def test_export_of_what_is_not_a_keras_model(tmp_path, no_tracing, model, match):
    with pytest.raises(TypeError, match=match):
        export(model, tmp_path / "m")


def test_export_of_an_unbuilt_model(tmp_path, no_tracing):
    with pytest.raises(ValueError, match=r"`model` \(unbuilt\) is not built, so its input shape "
                                         "is unknown"):
        export(keras.Sequential([keras.layers.Dense(1)], name="unbuilt"), tmp_path / "m")


def test_meta_learner_export_checks_its_arguments(meta, tmp_path, no_tracing):
    with pytest.raises(ValueError, match="`adaptation_steps` must be None or a positive int; "
                                         "got 0"):
        meta.export(tmp_path / "meta", adaptation_steps=0)
    with pytest.raises(TypeError, match="`filepath` must be a path"):
        meta.export(["meta"])


def test_distiller_export_checks_its_arguments(student, tmp_path, no_tracing):
    distiller = Distiller(student, models.student(n_features=1, n_qubits=2, n_layers=1),
                          ExpectationDistillation())
    with pytest.raises(ValueError, match="`verbose` must be True or False; got 'loud'"):
        distiller.export(tmp_path / "student", verbose="loud")
    with pytest.raises(TypeError, match="`filepath` must be a path .*got 3"):
        distiller.export(3)


def test_export_into_a_path_whose_parent_is_a_file(student, tmp_path, no_tracing):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"`filepath` '.*notes.txt/student' cannot be written: "
                                         r"File exists .*Give a path in a writable directory"):
        export(student, tmp_path / "notes.txt" / "student")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_export_into_a_directory_that_cannot_be_written(student, no_tracing):
    # /sys refuses new entries even to root, for whom permission bits do not count.
    with pytest.raises(ValueError, match="`filepath` '/sys/tfq_meta_export/student' cannot be "
                                         "written: "):
        export(student, "/sys/tfq_meta_export/student")


def test_export_onto_an_existing_file(student, tmp_path, no_tracing):
    (tmp_path / "student").write_text("mine")
    with pytest.raises(FileExistsError, match="`filepath` .* already exists; it is a file"):
        export(student, tmp_path / "student")
    with pytest.raises(ValueError, match="is a file or a link, not a directory"):
        export(student, tmp_path / "student", overwrite=True)
    assert (tmp_path / "student").read_text() == "mine"


@pytest.mark.parametrize("path, error, match", [
    (3, TypeError, "`path` must be a path .*got 3"),
    (None, TypeError, "`path` must be a path .*got None"),
])
def test_load_of_what_is_not_a_path(path, error, match):
    with pytest.raises(error, match=match):
        load(path)


def test_load_of_what_is_not_an_export(tmp_path):
    (tmp_path / "model.keras").write_text("not a SavedModel")
    for path in (tmp_path, tmp_path / "model.keras", tmp_path / "missing"):
        with pytest.raises(FileNotFoundError, match=f"`path` '{path}' is not a SavedModel "
                                                    "directory \\(no saved_model.pb\\)"):
            load(path)


def test_load_of_a_damaged_savedmodel(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"\x0a\xff\xff not a protobuf")
    with pytest.raises(ValueError, match=f"`path` '{tmp_path}' holds a saved_model.pb that does "
                                         "not parse .*damaged or not a SavedModel"):
        load(tmp_path)


@pytest.mark.parametrize("path, error", [(3, TypeError), ("/no/such/savedmodel",
                                                          FileNotFoundError)])
def test_tfq_ops_of_what_is_not_a_savedmodel(path, error):
    with pytest.raises(error, match="`path` "):
        tfq_ops(path)


@pytest.mark.parametrize("inputs, error, match", [
    ((np.zeros((2, 3), np.float32),), ValueError,
     r"`serve` input `x` must be floats of shape \[n, 1\] \(sent as float32\); got float32 of "
     r"shape \[2, 3\]"),
    ((np.zeros(3, np.float32),), ValueError, r"got float32 of shape \[3\]"),
    ((np.array([["a"]]),), ValueError, "`serve` input `x` must be floats .*got <U1"),
    ((np.ones((2, 1), bool),), ValueError, "`serve` input `x` must be floats .*got bool"),
    ((np.zeros((1, 1)), np.zeros((1, 1))), TypeError, r"`serve` takes 1 inputs \(x\); got 2"),
])
def test_served_inputs_that_do_not_fit(exported, inputs, error, match):
    with pytest.raises(error, match=match):
        load(exported).serve(*inputs)


def test_served_model_has_only_its_endpoints(exported):
    with pytest.raises(AttributeError, match=r"no endpoint 'adapt_and_predict'; it has "
                                             r"\['serve'\]"):
        load(exported).adapt_and_predict


def test_served_non_finite_features_are_refused_in_the_graph(exported, student):
    x = np.array([[0.3]], np.float32)
    served = load(exported)
    np.testing.assert_allclose(served.serve(x), student.predict(x, verbose=0), atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="`features` contains NaN or infinite values"):
        served.serve(np.array([[np.nan]], np.float32))


@pytest.mark.parametrize("x, match", [
    (tf.zeros((2, 3)), r"Can not cast TensorSpec\(shape=\(2, 3\), dtype=tf.float32.*to "
                       r"TensorSpec\(shape=\(None, 1\), dtype=tf.float32, name='x'\)"),
    (tf.zeros((2, 1), tf.float64), r"Can not cast TensorSpec\(shape=\(2, 1\), dtype=tf.float64"),
    (tf.zeros((2, 1), tf.int32), r"Can not cast TensorSpec\(shape=\(2, 1\), dtype=tf.int32"),
])
def test_plain_tensorflow_serving_refuses_inputs_off_the_signature(exported, x, match):
    loaded = tf.saved_model.load(str(exported))
    with pytest.raises(TypeError, match=match):
        loaded.serve(x)

"""SavedModel export and serving: every model kind reloads in a fresh process and serves what
the in-memory model computes (to 1e-6); a MetaLearner adapts inside the served graph; bad input
gets clear errors."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import run_fresh_python
from tfq_meta import Distiller, MetaLearner, models, tasks
from tfq_meta.distillation import LogitsDistillation
from tfq_meta.export import REQUIREMENTS_NOTE, export, load, tfq_ops
from tfq_meta.meta.task_losses import labels_are_class_indices

CROSS_ENTROPY = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def regression_learner(algorithm, engine="statevector"):
    keras.utils.set_random_seed(0)
    meta = MetaLearner(models.student(n_features=1, n_qubits=2, n_layers=1, engine=engine),
                       algorithm, inner_steps=2, inner_lr=0.2)
    # The steps only move the weights off their initialization; exported graphs never use XLA,
    # so the training step skips its compile.
    meta.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse", jit_compile=False)
    meta.fit(tasks.Sinusoid(shots=5).episodes(4, seed=0), epochs=1, steps_per_epoch=2, verbose=0)
    return meta


def classification_learner():
    keras.utils.set_random_seed(1)
    meta = MetaLearner(models.student(n_features=2, n_outputs=2, task="classification",
                                      n_qubits=2, n_layers=1), "anil", inner_steps=3, inner_lr=0.5)
    meta.compile(optimizer="adam", loss=CROSS_ENTROPY)
    return meta


def one_task(meta, seed):
    """(support_x, support_y, query_x) of one task the learner never saw."""
    rng = np.random.default_rng(seed)
    n_features = meta.model.inputs[0].shape[-1]
    if n_features == 1:
        task = tasks.Sinusoid(shots=5).sample(1, seed=seed)
        return task["support_x"][0], task["support_y"][0], task["query_x"][0]
    x = rng.uniform(0, np.pi, (16, n_features)).astype(np.float32)
    return x[:6], rng.integers(0, 2, 6).astype(np.int32), x[6:]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Every model kind exported: (directory, {name: in-memory inputs and outputs})."""
    tmp_path, rng = tmp_path_factory.mktemp("exports"), np.random.default_rng(1234)
    teacher = models.teacher(2, 3, "classification", n_qubits=3, n_layers=1)
    student = models.student(2, 3, "classification", n_qubits=2, n_layers=1)
    distiller = Distiller(teacher, student, LogitsDistillation(2.0))
    cases = {
        "student": models.student(n_features=1, n_qubits=2, n_layers=1),
        "qsim_student": models.student(n_features=1, n_qubits=2, n_layers=1, engine="qsim"),
        "distiller": distiller,
        "maml": regression_learner("maml"),
        "metasgd": regression_learner("metasgd"),
        "fomaml_qsim": regression_learner("fomaml", engine="qsim"),
        "anil_classification": classification_learner(),
    }
    expected = {}
    for name, model in cases.items():
        if isinstance(model, (Distiller, MetaLearner)):
            model.export(tmp_path / name, verbose=False)      # Keras' Model.export convention
        else:
            export(model, tmp_path / name)                     # the module's function
        network = model.student if isinstance(model, Distiller) else \
            model.model if isinstance(model, MetaLearner) else model
        n_features = network.inputs[0].shape[-1]
        x = rng.uniform(0, np.pi, (7, n_features)).astype(np.float32)
        case = {"x": x, "serve": network.predict(x, verbose=0)}
        if isinstance(model, MetaLearner):
            support_x, support_y, query_x = one_task(model, seed=11)
            case.update(support_x=support_x, support_y=support_y, query_x=query_x,
                        initial=network.predict(query_x, verbose=0),
                        adapted=_in_graph(model.adapt_and_predict)(
                            support_x[None], support_y[None], query_x[None]).numpy()[0],
                        adapted_copy=model.adapt(support_x, support_y).predict(query_x,
                                                                               verbose=0))
        np.savez(tmp_path / f"{name}.npz", **case)
        expected[name] = case
    return tmp_path, expected


def test_every_model_kind_serves_in_a_fresh_process(exports):
    """Each model exported, reloaded by another interpreter, compared with in-memory outputs."""
    tmp_path, expected = exports
    result = run_fresh_python("""
        import json, sys
        import numpy as np
        from tfq_meta.export import load
        errors = {}
        for name in json.loads(sys.stdin.read()):
            case, served = np.load(f"{name}.npz"), load(name)
            errors[name] = {"endpoints": served.endpoints,
                            "serve": float(np.max(np.abs(served.serve(case["x"]) - case["serve"])))}
            if "adapted" in case:
                adapted = served.adapt_and_predict(case["support_x"], case["support_y"],
                                                   case["query_x"])
                errors[name]["adapted"] = float(np.max(np.abs(adapted - case["adapted"])))
        print(json.dumps(errors))
    """, stdin=json.dumps(list(expected)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    errors = json.loads(result.stdout.strip().splitlines()[-1])
    for name, case in expected.items():
        assert errors[name]["serve"] < 1e-6, (name, errors[name])
        if "adapted" in case:
            assert errors[name]["endpoints"] == ["adapt_and_predict", "serve"]
            assert errors[name]["adapted"] < 1e-6, (name, errors[name])
            # The served loop really adapts (predictions move away from the initialization's)
            # and agrees with MetaLearner.adapt, which builds an adapted copy of the model.
            assert np.max(np.abs(case["adapted"] - case["initial"])) > 1e-3, name
            np.testing.assert_allclose(case["adapted"], case["adapted_copy"], atol=1e-5)
        else:
            assert errors[name]["endpoints"] == ["serve"]


def _in_graph(function):
    """``function`` traced as export traces it. The served graph must equal it to 1e-6; eager
    kernels round float32 differently (a few ulps in the adapted angles of a qsim model, which the
    readout turns into ~3e-6), which the comparison with ``MetaLearner.adapt`` bounds."""
    traced = tf.function(function)
    return lambda *arrays: traced(*map(tf.constant, arrays))


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def served_learner(tmp_path_factory):
    meta = classification_learner()
    served = load(export(meta, tmp_path_factory.mktemp("served") / "meta"))
    served.learner = meta
    return served


def test_unbuilt_model_and_wrong_arguments(tmp_path):
    unbuilt = keras.Sequential([keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="`model` .* is not built"):
        export(unbuilt, tmp_path / "unbuilt")
    with pytest.raises(TypeError, match="`model` must be a keras.Model, Distiller or "
                                        "MetaLearner; got str"):
        export("model.keras", tmp_path / "string")
    student = models.student(n_features=1, n_qubits=2, n_layers=1)
    with pytest.raises(ValueError, match="`adaptation_steps` applies to a MetaLearner only"):
        export(student, tmp_path / "steps", adaptation_steps=3)
    with pytest.raises(ValueError, match="`adaptation_steps` must be None or a positive int"):
        export(classification_learner(), tmp_path / "zero", adaptation_steps=0)
    assert not any(tmp_path.iterdir()), "nothing may be written when export refuses"


def test_existing_path_needs_overwrite(tmp_path, rng):
    student = models.student(n_features=1, n_qubits=2, n_layers=1)
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError, match="`filepath` .*taken' already exists; pass "
                                              "overwrite=True"):
        export(student, tmp_path / "taken")
    export(student, tmp_path / "taken", overwrite=True)
    x = rng.uniform(-1, 1, (3, 1)).astype(np.float32)
    np.testing.assert_allclose(load(tmp_path / "taken").serve(x), student.predict(x, verbose=0),
                               atol=1e-6)
    with pytest.raises(FileNotFoundError, match="is not a SavedModel directory"):
        load(tmp_path)


@pytest.mark.parametrize("endpoint, inputs, message", [
    ("serve", [np.zeros((3, 3), np.float32)],
     r"`serve` input `x` must be floats of shape \[n, 2\] \(sent as float32\); got float32 of "
     r"shape \[3, 3\]"),
    ("serve", [np.zeros(2, np.float32)], r"`x` must be floats of shape \[n, 2\].*shape \[2\]"),
    ("serve", [np.zeros((3, 2), np.int64)], r"`x` must be floats.*got int64"),
    ("adapt_and_predict", [np.zeros((4, 2)), np.zeros(4, np.float32), np.zeros((2, 2))],
     r"`support_y` must be integers of shape \[n\] \(sent as int32\); got float32"),
    ("adapt_and_predict", [np.zeros((4, 2)), np.zeros((4, 1), np.int64), np.zeros((2, 2))],
     r"`support_y` must be integers of shape \[n\].*shape \[4, 1\]"),
])
def test_serving_inputs_of_wrong_shape_or_dtype(served_learner, endpoint, inputs, message):
    with pytest.raises(ValueError, match=message):
        getattr(served_learner, endpoint)(*inputs)


def test_serving_call_mistakes(served_learner):
    with pytest.raises(TypeError, match=r"`adapt_and_predict` takes 3 inputs \(support_x, "
                                        r"support_y, query_x\); got 2"):
        served_learner.adapt_and_predict(np.zeros((4, 2)), np.zeros(4, np.int32))
    with pytest.raises(AttributeError, match="no endpoint 'predict'; it has "
                                             r"\['adapt_and_predict', 'serve'\]"):
        served_learner.predict
    # float64 features and int64 labels are cast, as users send them from NumPy.
    rng = np.random.default_rng(0)
    support_x, query_x = rng.uniform(0, np.pi, (2, 4, 2))
    support_y = np.array([0, 1, 1, 0])
    predictions = served_learner.adapt_and_predict(support_x, support_y, query_x)
    expected = served_learner.learner.adapt_and_predict(
        support_x[None].astype(np.float32), support_y[None].astype(np.int32),
        query_x[None].astype(np.float32))[0]
    np.testing.assert_allclose(predictions, expected, atol=1e-6)


# --------------------------------------------------------------------------------------------
# Keras' Model.export convention
# --------------------------------------------------------------------------------------------

def test_export_methods_print_like_keras_and_take_its_arguments(tmp_path, capsys):
    meta = classification_learner()
    meta.export(tmp_path / "meta", adaptation_steps=2)
    printed = capsys.readouterr().out
    assert f"Saved artifact at '{tmp_path / 'meta'}'" in printed
    assert "* adapt_and_predict(support_x: float32[n, 2], support_y: int32[n], query_x: " \
           "float32[n, 2])" in printed
    meta.export(tmp_path / "fixed_batch", verbose=False,
                input_signature=[keras.InputSpec(shape=(4, 2), dtype="float32")])
    assert capsys.readouterr().out == ""
    served = load(tmp_path / "fixed_batch")
    assert served.signature("serve")["x"].shape == (4, 2)
    assert served.signature("adapt_and_predict")["query_x"].shape == (None, 2)
    with pytest.raises(ValueError, match=r"`input_signature` must be one tf.TensorSpec or "
                                         r"keras.InputSpec \(or a list of one\) of shape "
                                         r"\(batch, 2\)"):
        meta.export(tmp_path / "wrong", input_signature=tf.TensorSpec((None, 3)))
    with pytest.raises(ValueError, match="`format` must be 'tf_saved_model'.*got 'onnx'.*"
                                         r"`meta.model.export\(filepath, format='onnx'\)`"):
        meta.export(tmp_path / "onnx", format="onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fixed_batch", "meta"]


def test_distiller_exports_its_student_alone(tmp_path, rng):
    teacher = models.teacher(2, 3, "classification", n_qubits=3, n_layers=1)
    student = models.student(2, 3, "classification", n_qubits=2, n_layers=1)
    distiller = Distiller(teacher, student, LogitsDistillation(2.0))
    distiller.export(tmp_path / "student", verbose=False)
    with pytest.raises(ValueError, match=r"`distiller.student.export\(filepath, "):
        distiller.export(tmp_path / "litert", format="litert")
    x = rng.uniform(0, np.pi, (5, 2)).astype(np.float32)
    np.testing.assert_allclose(load(tmp_path / "student").serve(x),
                               student.predict(x, verbose=0), atol=1e-6)
    exported = tf.saved_model.load(str(tmp_path / "student"))
    n_weights = sum(int(np.prod(v.shape)) for v in exported.variables)
    assert n_weights == student.count_params(), "the teacher stays behind"


def test_uncompiled_meta_learner_is_not_exported(tmp_path):
    meta = MetaLearner(models.student(n_features=1, n_qubits=2, n_layers=1), "maml")
    with pytest.raises(RuntimeError, match=r"Call `compile\(optimizer, loss\)` on the "
                                           "MetaLearner before exporting"):
        meta.export(tmp_path / "meta")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("loss, class_indices", [
    ("sparse_categorical_crossentropy", True),
    (keras.losses.sparse_categorical_crossentropy, True),
    (keras.losses.SparseCategoricalCrossentropy(from_logits=True, name="xent"), True),
    ("categorical_crossentropy", False),
    ("mse", False),
    (keras.losses.MeanSquaredError(), False),
])
def test_one_rule_for_class_index_labels(tmp_path, loss, class_indices):
    """The signature's label dtype and the accuracy metric follow the same rule."""
    meta = MetaLearner(models.student(2, 2, "classification", n_qubits=2, n_layers=1), "anil",
                       inner_steps=1)
    meta.compile(loss=loss, metrics=["accuracy"])
    assert labels_are_class_indices(loss) is class_indices
    meta.export(tmp_path / "meta", verbose=False)
    support_y = load(tmp_path / "meta").signature("adapt_and_predict")["support_y"]
    assert (support_y.dtype, support_y.shape) == ((tf.int32, (None,)) if class_indices else
                                                  (tf.float32, (None, 2)))
    accuracy = next(m for m in meta.metrics if m.name == "accuracy")
    assert isinstance(accuracy, keras.metrics.SparseCategoricalAccuracy) is class_indices


# --------------------------------------------------------------------------------------------
# Serving without tfq_meta
# --------------------------------------------------------------------------------------------

# Makes importing tfq_meta or TensorFlow Quantum fail in a fresh process.
WITHOUT_TFQ_META = """
import sys

class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tfq_meta", "tensorflow_quantum"):
            raise ImportError(f"{name} is not importable in this process")

sys.meta_path.insert(0, Blocked())
"""


def test_statevector_exports_serve_in_stock_tensorflow(exports):
    """A statevector model's SavedModel runs only TensorFlow's own ops: a process that cannot
    import tfq_meta or TFQ serves it, by tf.saved_model.load and by saved_model_cli."""
    tmp_path, expected = exports
    for name in expected:
        assert bool(tfq_ops(tmp_path / name)) == ("qsim" in name), name
        assert (tmp_path / name / REQUIREMENTS_NOTE).exists() == ("qsim" in name), name
    np.save(tmp_path / "x.npy", expected["student"]["x"])
    # One interpreter for both ways: loading first, then the command line on the same files.
    served = run_fresh_python(WITHOUT_TFQ_META + """
import runpy
import numpy as np
import tensorflow as tf
student, meta = tf.saved_model.load("student"), tf.saved_model.load("maml")
cases = np.load("student.npz"), np.load("maml.npz")
np.savez("stock.npz", serve=student.serve(tf.constant(cases[0]["x"])).numpy(),
         adapted=meta.adapt_and_predict(*(tf.constant(cases[1][key]) for key in
                                          ("support_x", "support_y", "query_x"))).numpy())
print("MODULES", sorted(name for name in sys.modules
                        if name.split(".")[0] in ("tfq_meta", "tensorflow_quantum")))
sys.argv = ["saved_model_cli", "run", "--dir", "student", "--tag_set", "serve",
            "--signature_def", "serving_default", "--inputs", "x=x.npy", "--outdir", "cli"]
runpy.run_module("tensorflow.python.tools.saved_model_cli", run_name="__main__")
""", cwd=tmp_path)
    assert served.returncode == 0, served.stderr[-3000:]
    assert [line for line in served.stdout.splitlines() if line.startswith("MODULES")] == [
        "MODULES []"]
    outputs = np.load(tmp_path / "stock.npz")
    np.testing.assert_allclose(outputs["serve"], expected["student"]["serve"], atol=1e-6)
    np.testing.assert_allclose(outputs["adapted"], expected["maml"]["adapted"], atol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "cli" / "output_0.npy"),
                               expected["student"]["serve"], atol=1e-6)


def test_qsim_exports_say_they_need_tfq_meta(tmp_path, capsys):
    student = models.student(n_features=1, n_qubits=2, n_layers=1, engine="qsim")
    path = export(student, tmp_path / "qsim", verbose=True)
    assert "TfqSimulateExpectation" in tfq_ops(path)
    note = (path / REQUIREMENTS_NOTE).read_text()
    assert "import tfq_meta" in note and "TfqSimulateExpectation" in note
    assert note in capsys.readouterr().out
    # Without TFQ's ops TensorFlow cannot load it, which is why the note is there.
    result = run_fresh_python(WITHOUT_TFQ_META + """
import tensorflow as tf
tf.saved_model.load("qsim")
""", cwd=tmp_path)
    assert result.returncode != 0 and "Op type not registered 'Tfq" in result.stderr
    assert load(path).serve(np.zeros((2, 1), np.float32)).shape == (2, 1)

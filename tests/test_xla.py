"""XLA by default where it is valid (tfq_meta.xla): how "auto" resolves, and that a compiled
training step equals TensorFlow's executor's (which the gradient tests check against finite
differences and Cirq)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import tfq_meta.xla
from tfq_meta import Distiller, circuits, models, tasks
from tfq_meta.distillation import ExpectationDistillation
from tfq_meta.kernels import KernelAlignment, ProjectedQuantumKernel, QuantumKernel
from tfq_meta.meta import MetaLearner


def student(engine="auto"):
    return models.student(n_features=1, n_qubits=2, n_layers=1, engine=engine)


def meta_learner(jit_compile="auto", engine="auto", **compile_options):
    keras.utils.set_random_seed(0)
    meta = MetaLearner(student(engine), inner_steps=2)
    meta.compile(loss="mse", jit_compile=jit_compile, **compile_options)
    return meta


def test_auto_resolves_on_for_the_statevector_engine_and_off_for_tfq_ops():
    assert meta_learner().jit_compile is True
    assert meta_learner(engine="qsim").jit_compile is False


@pytest.mark.parametrize("given", [True, False])
def test_an_explicit_choice_is_kept(given):
    assert meta_learner(jit_compile=given).jit_compile is given


def test_auto_is_off_when_running_eagerly_under_a_strategy_or_with_determinism(monkeypatch):
    assert meta_learner(run_eagerly=True).jit_compile is False
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        assert meta_learner().jit_compile is False
    monkeypatch.setattr(tfq_meta.xla, "is_op_determinism_enabled", lambda: True)
    assert meta_learner().jit_compile is False


def test_distiller_and_kernel_trainers_resolve_auto_by_their_layers():
    teacher = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    for engine, expected in (("statevector", True), ("qsim", False)):
        distiller = Distiller(teacher, student(engine), ExpectationDistillation())
        distiller.compile(loss="mse")
        assert distiller.jit_compile is expected
        aligner = KernelAlignment(ProjectedQuantumKernel(circuits.reuploading_circuit(2, 1),
                                                         engine=engine))
        aligner.compile(optimizer="adam")
        assert aligner.jit_compile is expected
    assert QuantumKernel(circuits.angle_encoding(2), method="pairwise").supports_jit is False
    aligner = KernelAlignment(QuantumKernel(circuits.reuploading_circuit(2, 1)))
    aligner.compile(optimizer="adam")
    assert aligner.jit_compile is True


def test_compiled_meta_gradients_equal_the_executors():
    # Compared as gradients: Adam's first step divides by their magnitude, so a weight whose
    # gradient is near zero moves by a rounding-dependent amount.
    meta = meta_learner()
    episode = {k: tf.constant(v) for k, v in tasks.Sinusoid(shots=4).sample(3, seed=0).items()}
    xla = tf.function(meta.meta_gradients, jit_compile=True)(episode)
    graph = tf.function(meta.meta_gradients, jit_compile=False)(episode)
    scale = max(float(tf.reduce_max(tf.abs(g))) for g in graph)
    for a, b in zip(xla, graph):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5 * scale)


def test_bad_data_is_caught_before_the_compiled_step():
    # XLA compiles graph assertions to nothing: the checks run on the data before the step.
    meta = meta_learner()
    episode = tasks.Sinusoid(shots=4).sample(2, seed=0)
    episode["query_x"][0, 0, 0] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or infinite"):
        meta.fit(tf.data.Dataset.from_tensors(episode), epochs=1, verbose=0)
    # Arrays, and a generator's items as they are drawn, are checked eagerly: a Python error.
    eager_error = "`query_x` holds NaN or infinite features"
    with pytest.raises(ValueError, match=eager_error):
        meta.evaluate(episode, verbose=0)
    with pytest.raises(ValueError, match=eager_error):
        meta.fit((episode for _ in range(2)), epochs=1, steps_per_epoch=2, verbose=0)
    with pytest.raises(ValueError, match=eager_error):
        meta.train_on_batch(episode)
    teacher = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    distiller = Distiller(teacher, student(), ExpectationDistillation(), student_loss_weight=0.0)
    distiller.compile()
    assert distiller.jit_compile is True
    x = np.array([[0.1], [np.inf]], np.float32)
    with pytest.raises(ValueError, match="`x` holds NaN or infinite features"):
        distiller.fit(x, epochs=1, verbose=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or infinite"):
        distiller.fit(tf.data.Dataset.from_tensor_slices(x).batch(2), epochs=1, verbose=0)

"""QueryMetrics: the MetaLearner's logs, and their reset against Keras' own."""
import keras
import numpy as np
import tensorflow as tf

from tfq_meta import MetaLearner, models, tasks


class StartsAtOne(keras.metrics.Metric):
    """A metric whose initial state is not zeros, so it must reset its own way."""

    def __init__(self, name="starts_at_one", **kwargs):
        super().__init__(name=name, **kwargs)
        self.value = self.add_variable(shape=(), initializer="ones", name="value")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.value.assign(self.value + 1.0)

    def reset_state(self):
        self.value.assign(1.0)

    def result(self):
        return self.value


def compiled_meta():
    keras.utils.set_random_seed(0)
    meta = MetaLearner(models.student(n_features=1, n_qubits=2, n_layers=1), "fomaml",
                       inner_steps=1, inner_lr=0.1)
    meta.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse",
                 metrics=["mae", keras.metrics.RootMeanSquaredError(), StartsAtOne()],
                 pre_adapt_metrics="always")
    return meta


def state(meta):
    return [np.asarray(v) for m in meta.metrics for v in m.variables]


def initial_state(meta):
    """The oracle: ``state`` of metrics built anew from the learner's metrics' configs."""
    fresh = [type(m).from_config(m.get_config()) for m in meta.metrics]
    return [np.asarray(v) for m in fresh for v in m.variables]


def test_reset_leaves_every_metric_as_a_fresh_one_and_as_keras_reset_does():
    meta = compiled_meta()
    episode = tasks.Sinusoid(shots=5).sample(4, seed=0)
    meta.train_on_batch(episode)
    meta.train_on_batch(episode)
    assert any(np.any(value != 0) for value in state(meta))
    meta.reset_metrics()
    reset = state(meta)
    # Oracle 1: metrics built anew from their configs, in their initial state.
    expected = initial_state(meta)
    assert [value.shape for value in reset] == [value.shape for value in expected]
    for value, initial in zip(reset, expected):
        np.testing.assert_array_equal(value, initial)
    assert any(np.all(value == 1.0) and value.size for value in reset)  # StartsAtOne's own
    # Oracle 2: Keras' own reset, after the same steps.
    meta.train_on_batch(episode)
    keras.Model.reset_metrics(meta)
    for value, keras_value in zip(reset, state(meta)):
        np.testing.assert_array_equal(value, keras_value)


def test_reset_in_a_graph_and_then_eagerly():
    meta = compiled_meta()
    episode = tasks.Sinusoid(shots=5).sample(4, seed=0)
    expected = initial_state(meta)
    for reset in (tf.function(meta.reset_metrics), meta.reset_metrics):
        meta.train_on_batch(episode)
        reset()
        for value, initial in zip(state(meta), expected):
            np.testing.assert_array_equal(value, initial)


def test_train_on_batch_logs_each_batch_alone_as_with_keras_reset():
    ours, theirs = compiled_meta(), compiled_meta()
    theirs.reset_metrics = lambda: keras.Model.reset_metrics(theirs)
    family = tasks.Sinusoid(shots=5)
    for seed in range(3):
        episode = family.sample(4, seed=seed)
        logs, expected = (meta.train_on_batch(episode, return_dict=True)
                          for meta in (ours, theirs))
        assert logs.keys() == expected.keys()
        for name in expected:
            np.testing.assert_allclose(logs[name], expected[name], rtol=1e-6, err_msg=name)
    # Each step's logs are that batch's: the loss tracker counts one step.
    tracker = ours.metrics[0]
    assert tracker.name == "loss" and float(tracker.count) == 1.0

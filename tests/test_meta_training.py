"""Meta-training helps: on held-out tasks, a meta-learned initialization adapts far better than the
same model from scratch with the same inner loop. Small runs sized for CI (about a minute)."""
import keras
import pytest
import tensorflow as tf

from tfq_meta import MetaLearner, models, tasks


def meta_and_scratch(build, algorithm, inner_steps, inner_lr, loss):
    """The learner to meta-train, and the same model from another random initialization that
    adapts every weight with the same inner loop."""
    learners = []
    for seed, adapts in ((0, algorithm), (1, "fomaml")):
        keras.utils.set_random_seed(seed)
        learner = MetaLearner(build(), adapts, inner_steps=inner_steps, inner_lr=inner_lr)
        learner.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss)
        learners.append(learner)
    return learners


@pytest.mark.parametrize("algorithm, inner_steps, inner_lr, eval_steps, ratio", [
    ("maml", 1, 0.3, 1, 0.7),     # exact second order, measured after the trained single step
    ("anil", 5, 0.2, 5, 0.3),
])
def test_meta_learned_sinusoid_initialization_beats_scratch(algorithm, inner_steps, inner_lr,
                                                            eval_steps, ratio):
    meta, scratch = meta_and_scratch(lambda: models.student(n_features=1, n_layers=2), algorithm,
                                     inner_steps, inner_lr, "mse")
    meta.fit(tasks.Sinusoid(shots=10).episodes(16, seed=0), epochs=1, steps_per_epoch=400,
             verbose=0)
    held_out = tasks.Sinusoid(shots=10, query_shots=30).sample(200, seed=99)
    meta_mse = meta.adaptation_losses(held_out, eval_steps)[-1].mean()
    scratch_mse = scratch.adaptation_losses(held_out, eval_steps)[-1].mean()
    assert meta_mse < ratio * scratch_mse, (meta_mse, scratch_mse)


def test_meta_learned_digits_initialization_beats_scratch_on_held_out_classes():
    """ANIL meta-trained on 6 digit classes, tested on 2 others; scratch adapts every weight."""
    splits = tasks.digits(n_ways=2, shots=5, query_shots=10, n_features=4, seed=1)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    learners = []
    for algorithm, seed in (("anil", 0), ("fomaml", 1)):
        keras.utils.set_random_seed(seed)
        model = models.student(n_features=4, n_outputs=2, task="classification", n_layers=2)
        learner = MetaLearner(model, algorithm, inner_steps=5, inner_lr=1.0)
        learner.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss, metrics=["accuracy"])
        learners.append(learner)
    meta, scratch = learners
    meta.fit(splits["train"].episodes(16, seed=0), epochs=1, steps_per_epoch=300, verbose=0)
    held_out = tf.data.Dataset.from_tensors(splits["test"].sample(200, seed=99))
    meta_accuracy = meta.evaluate(held_out, return_dict=True, verbose=0)["accuracy"]
    scratch_accuracy = scratch.evaluate(held_out, return_dict=True, verbose=0)["accuracy"]
    # Measured 0.87 against 0.81; 4000 query predictions put the standard error near 0.006.
    assert meta_accuracy > scratch_accuracy + 0.04, (meta_accuracy, scratch_accuracy)

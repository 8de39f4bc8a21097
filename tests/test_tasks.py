"""Task families: the MAML sinusoid protocol, N-way K-shot splits, user functions, seeding."""
import numpy as np
import pytest

from tfq_meta import tasks


def test_sinusoid_follows_the_maml_protocol():
    family = tasks.Sinusoid(shots=10, query_shots=15)
    rng = np.random.default_rng(0)
    parameters = np.array([family.sample_function(rng) for _ in range(2000)])
    assert 0.1 <= parameters[:, 0].min() and parameters[:, 0].max() <= 5.0
    assert 0.0 <= parameters[:, 1].min() and parameters[:, 1].max() <= np.pi
    # Uniform on the intervals: means within 4 standard errors of the interval midpoints.
    standard_errors = np.array([4.9, np.pi]) / np.sqrt(12 * 2000)
    assert np.all(np.abs(parameters.mean(axis=0) - [2.55, np.pi / 2]) < 4 * standard_errors)
    task = family.task(rng, amplitude=2.0, phase=0.5)
    x = np.concatenate([task["support_x"], task["query_x"]])
    assert task["support_x"].shape == (10, 1) and task["query_x"].shape == (15, 1)
    assert -5.0 <= x.min() and x.max() <= 5.0
    np.testing.assert_allclose(task["query_y"], 2.0 * np.sin(task["query_x"] - 0.5))


def test_episodes_are_reproducible_per_seed_and_index():
    family = tasks.Sinusoid(shots=5)
    first = list(family.episodes(3, seed=7, n_episodes=3).as_numpy_iterator())
    again = list(family.episodes(3, seed=7, n_episodes=3).as_numpy_iterator())
    other = list(family.episodes(3, seed=8, n_episodes=1).as_numpy_iterator())
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a["support_x"], b["support_x"])
    assert not np.allclose(first[0]["support_x"], other[0]["support_x"])
    assert not np.allclose(first[0]["support_x"], first[1]["support_x"])
    np.testing.assert_array_equal(first[2]["query_y"], family.sample(3, seed=[7, 2])["query_y"])
    assert first[0]["support_x"].dtype == np.float32


def test_digits_splits_have_disjoint_classes_and_consistent_labels():
    splits = tasks.digits(n_ways=3, shots=2, query_shots=4, n_features=6, seed=1)
    classes = [set(splits[name].classes.tolist()) for name in ("train", "validation", "test")]
    assert classes[0].isdisjoint(classes[1]) and classes[0].isdisjoint(classes[2])
    assert classes[1].isdisjoint(classes[2]) and set.union(*classes) == set(range(10))
    test = splits["test"]
    episode = test.sample(5, seed=0)
    assert episode["support_x"].shape == (5, 6, 6) and episode["query_y"].shape == (5, 12)
    assert 0.0 <= episode["support_x"].min() and episode["support_x"].max() <= np.pi
    # Each task label names one original class, the same in support and query, and support and
    # query examples never overlap.
    for t in range(5):
        for label in range(3):
            originals = {_original_class(test, row) for row in
                         np.concatenate([episode["support_x"][t][episode["support_y"][t] == label],
                                         episode["query_x"][t][episode["query_y"][t] == label]])}
            assert len(originals) == 1 and originals <= classes[2]
        support_rows = {row.tobytes() for row in episode["support_x"][t]}
        assert not support_rows & {row.tobytes() for row in episode["query_x"][t]}


def _original_class(family, row):
    matches = np.flatnonzero(np.all(family.x == row, axis=1))
    return int(family.y[matches[0]])


def test_function_tasks_stack_a_users_sampler():
    def linear(rng):
        slope = rng.normal()
        x = rng.uniform(-1, 1, size=(6, 2))
        y = x @ np.array([slope, 1.0])[:, None]
        return {"support_x": x[:2], "support_y": y[:2], "query_x": x[2:], "query_y": y[2:]}

    episode = tasks.FunctionTasks(linear).sample(4, seed=3)
    assert episode["query_x"].shape == (4, 4, 2) and episode["query_y"].shape == (4, 4, 1)
    rng = np.random.default_rng(3)
    expected = [linear(rng)["query_y"] for _ in range(4)]
    np.testing.assert_allclose(episode["query_y"], np.stack(expected), rtol=1e-6)


@pytest.mark.parametrize("make, message", [
    (lambda: tasks.Sinusoid(shots=0), "`shots` must be a positive int"),
    (lambda: tasks.Sinusoid(shots=5, amplitude_range=(5, 1)), "`amplitude_range`"),
    (lambda: tasks.Sinusoid(5).episodes(0), "`meta_batch_size` must be a positive int"),
    (lambda: tasks.FewShotClassification(np.zeros((4, 2)), np.array([0, 0, 1, 1]), n_ways=3,
                                         shots=1), "`n_ways`=3 is more than the 2 classes"),
    (lambda: tasks.FewShotClassification(np.zeros((4, 2)), np.array([0, 0, 1, 1]), n_ways=2,
                                         shots=2), "fewer than shots \\+ query_shots = 4"),
    (lambda: tasks.FewShotClassification(np.zeros((4, 2)), np.array([0.5, 0, 1, 1]), n_ways=2,
                                         shots=1), "`y` must be integer class labels"),
    (lambda: tasks.FewShotClassification(np.zeros((3, 2)), np.array([0, 0, 1, 1]), n_ways=2,
                                         shots=1), "`x` has 3 examples but `y` has 4"),
    (lambda: tasks.digits(n_ways=4), "cannot form three disjoint splits"),
    (lambda: tasks.FunctionTasks(lambda rng: {"support_x": np.zeros((rng.integers(1, 9), 1)),
                                              "support_y": np.zeros((2, 1)),
                                              "query_x": np.zeros((2, 1)),
                                              "query_y": np.zeros((2, 1))}).sample(8),
     "different shapes"),
])
def test_bad_task_arguments_raise_clear_errors(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()

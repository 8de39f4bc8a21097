"""Bad arguments to the task families get a ValueError/TypeError naming the argument, raised in
Python before any sampling."""
import networkx as nx
import numpy as np
import pytest

from tfq_meta import tasks

NAN = float("nan")
KEYS = tasks.EPISODE_KEYS


def classification(x=None, y=None, **options):
    x = np.zeros((8, 2)) if x is None else x
    y = np.arange(8) % 2 if y is None else y
    return tasks.FewShotClassification(x, y, **{"n_ways": 2, "shots": 1, **options})


def function_tasks(value):
    return tasks.FunctionTasks(lambda rng: {key: value for key in KEYS})


@pytest.mark.parametrize("make, error, match", [
    (lambda: tasks.Sinusoid(amplitude_range=5), ValueError,
     r"`amplitude_range` must be an interval \(low, high\) of finite numbers .*got 5"),
    (lambda: tasks.Sinusoid(x_range=(NAN, 1.0)), ValueError, "`x_range` must be an interval"),
    (lambda: tasks.Sinusoid(phase_range="ab"), ValueError, "`phase_range` must be an interval"),
    (lambda: tasks.Sinusoid(shots=2.0), ValueError, "`shots` must be a positive int; got 2.0"),
    (lambda: tasks.Sinusoid(query_shots=-1), ValueError, "`query_shots` must be a positive int"),
])
def test_sinusoid_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("seed", [-1, 1.5, "a", None, True, []])
def test_sample_seed(seed):
    with pytest.raises(ValueError, match="`seed` must be an int >= 0 or a non-empty sequence"):
        tasks.Sinusoid().sample(2, seed=seed)


@pytest.mark.parametrize("seed", [-1, 1.5, None, [1, 2]])
def test_episodes_seed(seed):
    with pytest.raises(ValueError, match=r"`seed` must be an int >= 0; got"):
        tasks.Sinusoid().episodes(2, seed=seed)


def test_seeds_that_are_accepted_still_reproduce():
    family = tasks.Sinusoid(shots=3)
    np.testing.assert_array_equal(family.sample(2, seed=[4, 5])["query_y"],
                                  family.sample(2, seed=(4, 5))["query_y"])
    np.testing.assert_array_equal(family.sample(2, seed=np.int64(4))["query_y"],
                                  family.sample(2, seed=4)["query_y"])


@pytest.mark.parametrize("make, error, match", [
    (lambda: classification(x=np.full((8, 2), np.nan)), ValueError,
     "`x` contains NaN or infinite values"),
    (lambda: classification(x=np.array([["a", "b"]] * 8)), TypeError,
     "`x` must hold int or float numbers; got dtype <U1"),
    (lambda: classification(x=np.zeros(8)), ValueError,
     r"`x` must be shaped \[examples, features...\]; got shape \(8,\)"),
    (lambda: classification(classes=1), TypeError, "`classes` must be a list of int class"),
    (lambda: classification(classes=[0, 0]), ValueError,
     r"`classes` must list each class once; \[0\] appear more than once"),
    (lambda: classification(classes=[0, 1.0]), TypeError, "`classes` must be a list of int"),
    (lambda: classification(n_ways=0), ValueError, "`n_ways` must be a positive int"),
    (lambda: classification(shots=4), ValueError, "fewer than shots \\+ query_shots = 8"),
])
def test_few_shot_classification_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("fractions", [(1, 1), 0.5, (NAN, 1, 1), ("a", 1, 1), (0, 1, 1)])
def test_split_fractions(fractions):
    with pytest.raises(ValueError, match="`fractions` must be three positive shares"):
        tasks.FewShotClassification.split(np.zeros((40, 2)), np.arange(40) % 8, 1, 1,
                                          fractions=fractions)


def test_digits_with_more_features_than_pixels():
    with pytest.raises(ValueError, match="`n_features` must be at most 64.*got 65"):
        tasks.digits(n_features=65)


@pytest.mark.parametrize("value, error, match", [
    (np.full((2, 1), np.nan), ValueError,
     r"`FunctionTasks.sample_task\(\)\['support_x'\]` contains NaN or infinite values"),
    (np.full((2, 1), True), TypeError, "must hold int or float numbers; got dtype bool"),
    (np.array([["a"], ["b"]]), TypeError, "must hold int or float numbers; got dtype <U1"),
])
def test_function_tasks_values(value, error, match):
    with pytest.raises(error, match=match):
        function_tasks(value).sample(2)


@pytest.mark.parametrize("family", [tasks.XXZChain, tasks.TransverseFieldIsing])
@pytest.mark.parametrize("periodic", ["no", None, 0])
def test_spin_chain_periodic(family, periodic):
    with pytest.raises(ValueError, match="`periodic` must be True or False; got"):
        family(n_qubits=4, periodic=periodic)


@pytest.mark.parametrize("make, match", [
    (lambda: tasks.XXZChain(n_qubits=4).features(NAN), "`delta` must be a finite number"),
    (lambda: tasks.TransverseFieldIsing(n_qubits=3).features(NAN),
     "`field` must be a finite number"),
    (lambda: tasks.XXZChain(n_qubits=4).sample_parameters(0), "`n_tasks` must be a positive int"),
    (lambda: tasks.XXZChain(n_qubits=4).sample_parameters(2.5), "`n_tasks` must be a positive"),
    (lambda: tasks.XXZChain(n_qubits=4).sample_parameters(2, seed=-1), "`seed` must be an int"),
    (lambda: tasks.XXZChain(n_qubits=4).episode([]),
     "`parameters` must be a non-empty list of task parameters"),
    (lambda: tasks.XXZChain(n_qubits=4).data(0.5), "`parameters` must be a non-empty list"),
    (lambda: tasks.XXZChain(n_qubits=4).energies(np.zeros((2, 3)), [0.1, 0.2]),
     r"`expectations` must be shaped \[tasks, terms\] = \[2, 16\].*got shape \[2, 3\]"),
    (lambda: tasks.XXZChain(n_qubits=4).energies(np.zeros((3, 16)), [0.1, 0.2]),
     r"`expectations` must be shaped .*got shape \[3, 16\]"),
])
def test_hamiltonian_family_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_maxcut_ratios_need_one_energy_per_graph():
    family = tasks.MaxCut(n_nodes=4)
    graphs = [nx.cycle_graph(4)]
    with pytest.raises(ValueError, match=r"`energies` must hold one energy per graph, shape "
                                         r"\[1\]; got shape \[2\]"):
        family.approximation_ratios([-1.0, -2.0], graphs)
    # The right length still gives the oracle's ratio: a 4-cycle's best cut is all 4 edges.
    np.testing.assert_allclose(family.approximation_ratios([-2.0], graphs), [1.0])

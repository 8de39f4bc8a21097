"""Hamiltonian task families: each task's Hamiltonian, energies of a whole batch of tasks in one
call against Cirq's expectation of each task's PauliSum, exact second-order MAML through
energies against finite differences of a Cirq objective, and MaxCut's bookkeeping.

Oracles: the builders of tfq_meta.hamiltonians (themselves tested against NumPy matrices),
Cirq's final states in complex128 against the Hamiltonians' dense matrices, with parameter-shift
gradients; enumeration of cuts.
"""
import cirq
import keras
import networkx as nx
import numpy as np
import pytest

import meta_oracle
from tfq_meta import Energy, MetaLearner, circuits, hamiltonians, memory, models, tasks


def cirq_energy(layer, weights, hamiltonian, features=()):
    """⟨H⟩ of a PQC layer's circuit at ``weights`` (in the layer's symbol order), by Cirq; the
    Hamiltonian a ``cirq.PauliSum`` or its dense matrix on the circuit's sorted qubits."""
    values = {str(s): float(v) for s, v in zip(layer.data_symbols, features)}
    values.update({str(s): float(v) for s, v in zip(layer.weight_symbols, weights)})
    qubits = sorted(layer.circuit.all_qubits())
    if isinstance(hamiltonian, cirq.PauliSum):
        hamiltonian = hamiltonian.matrix(qubits)
    state = cirq.final_state_vector(layer.circuit, param_resolver=values, qubit_order=qubits,
                                    dtype=np.complex128)
    return float(np.real(np.vdot(state, hamiltonian @ state)))


def test_family_hamiltonians_are_the_builders():
    xxz = tasks.XXZChain(n_qubits=5, field=0.6)
    assert xxz.hamiltonian(0.37) == hamiltonians.xxz_chain(5, 0.37, field=0.6)
    ising = tasks.TransverseFieldIsing(n_qubits=4)
    assert ising.hamiltonian(1.2) == hamiltonians.transverse_field_ising(4, 1.2)
    maxcut = tasks.MaxCut(n_nodes=6)
    graph = maxcut.sample_parameters(1, seed=3)[0]
    assert maxcut.hamiltonian(graph) == hamiltonians.maxcut_hamiltonian(graph)


def test_episodes_hold_each_tasks_features_and_coefficients():
    family = tasks.XXZChain(n_qubits=4, delta_range=(-0.5, 0.5))
    episode = family.sample(n_tasks=6, seed=1)
    assert episode["support_x"].shape == (6, 1, 1) and episode["support_y"].shape == (6, 1, 16)
    deltas = episode["support_x"][:, 0, 0]
    assert np.all(np.abs(deltas) <= 0.5)
    np.testing.assert_allclose(episode["support_y"][:, 0, 2], deltas)   # the first ZZ term
    np.testing.assert_array_equal(episode["query_y"], episode["support_y"])
    # The episode of given parameters holds the same tasks, in the order given.
    chosen = family.episode(list(deltas[::-1]))
    for key in episode:
        np.testing.assert_array_equal(chosen[key], episode[key][::-1])


@pytest.mark.parametrize("engine", ["statevector", "qsim"])
def test_one_call_gives_every_tasks_energy(engine):
    family = tasks.XXZChain(n_qubits=4)
    spec = circuits.meta_vqe_ansatz(4, encoding_layers=1, processing_layers=1)
    keras.utils.set_random_seed(0)
    model = models.energy_model(spec, family, engine=engine)
    deltas = family.sample_parameters(5, seed=2)
    x, y = family.data(deltas)
    energies = Energy(reduction=None)(y, model(x)).numpy()
    layer = model.get_layer("circuit")
    weights = layer.circuit_weights.numpy()
    expected = [cirq_energy(layer, weights, family.hamiltonian(d), [d]) for d in deltas]
    np.testing.assert_allclose(energies, expected, atol=2e-5)
    np.testing.assert_allclose(family.energies(model.predict(x, verbose=0), deltas), expected,
                               atol=2e-5)


class CirqEnergies:
    """The oracle MAML objective of an ansatz with one rotation per weight, through energies.

    With data symbols (each task's ``family.features``), a weight may also be a slope ``a`` of
    an angle ``a · x + w`` (``circuits.meta_vqe_ansatz``): ``∂E/∂a = x · ∂E/∂w``, ``w`` the
    angle's offset weight, named as ``a`` with ``w`` for ``a``.
    """

    def __init__(self, layer, family, parameters):
        # Dense matrices, built once: the finite differences evaluate thousands of energies.
        qubits = sorted(layer.circuit.all_qubits())
        self.layer = layer
        self.hamiltonians = [family.hamiltonian(p).matrix(qubits) for p in parameters]
        self.features = [family.features(p) for p in parameters]
        names = [str(s) for s in layer.weight_symbols]
        self.offsets = {i: names.index("w" + name[1:]) for i, name in enumerate(names)
                        if name.startswith("a")}

    def energy(self, weights, task):
        return cirq_energy(self.layer, weights, self.hamiltonians[task], self.features[task])

    def gradient(self, weights, task):
        shifts = np.eye(len(weights)) * np.pi / 2
        gradient = np.array([0.5 * (self.energy(weights + s, task) -
                                    self.energy(weights - s, task))
                             if i not in self.offsets else np.nan
                             for i, s in enumerate(shifts)])
        for slope, offset in self.offsets.items():
            (x,) = self.features[task]
            gradient[slope] = x * gradient[offset]
        return gradient

    def maml_objective(self, weights, steps, inner_lr):
        query = []
        for task in range(len(self.hamiltonians)):
            adapted = weights
            for _ in range(steps):
                adapted = adapted - inner_lr * self.gradient(adapted, task)
            query.append(self.energy(adapted, task))
        return float(np.mean(query))


@pytest.mark.parametrize("engine, steps", [("statevector", 1), ("statevector", 2), ("qsim", 1)])
def test_maml_meta_gradient_through_energies_equals_finite_differences(engine, steps):
    family = tasks.TransverseFieldIsing(n_qubits=3)
    spec = circuits.hardware_efficient_ansatz(3, n_layers=1, entangler="cnot_ring")
    keras.utils.set_random_seed(1)
    dtype = "float64" if engine == "statevector" else "float32"
    options = dict(state_dtype="complex128", dtype=dtype) if engine == "statevector" else {}
    model = models.energy_model(spec, family, engine=engine, **options)
    meta = MetaLearner(model, "maml", inner_steps=steps, inner_lr=0.2,
                       **meta_oracle.plain("maml"))
    meta.compile(optimizer=keras.optimizers.SGD(1.0), loss=Energy())
    fields = [0.6, 1.4]
    episode = {key: value.astype(dtype) for key, value in family.episode(fields).items()}
    gradient = meta.meta_gradients(episode)[0].numpy()

    oracle = CirqEnergies(model.get_layer("circuit"), family, fields)
    weights = model.get_layer("circuit").circuit_weights.numpy().astype(np.float64)
    expected = meta_oracle.central_differences(
        lambda w: oracle.maml_objective(w, steps, 0.2), weights)
    np.testing.assert_allclose(gradient, expected, atol=1e-6 if engine == "statevector" else 2e-4)
    assert np.linalg.norm(expected) > 1e-2


def test_qsim_maml_meta_gradient_of_many_tasks_equals_finite_differences():
    # TFQ's adjoint op drops observables whose |upstream · coefficient| < 1e-5, so without the
    # engine's upstream scaling the meta-gradient of an episode depended on its number of tasks
    # (the mean over tasks shrinks each task's upstream): 16 copies of this task were 2.4e-4
    # (relative) off the task alone, and 1.9e-4 off the oracle; now 6e-6.
    family = tasks.XXZChain(n_qubits=4)
    spec = circuits.meta_vqe_ansatz(4, encoding_layers=1, processing_layers=1)
    keras.utils.set_random_seed(1)
    model = models.energy_model(spec, family, engine="qsim")
    meta = MetaLearner(model, "maml", inner_steps=2, inner_lr=0.2, **meta_oracle.plain("maml"))
    meta.compile(optimizer=keras.optimizers.SGD(1.0), loss=Energy())

    def episode(n_tasks):
        return family.episode([0.3] * n_tasks)

    gradient = meta.meta_gradients(episode(16))[0].numpy()
    layer = model.get_layer("circuit")
    oracle = CirqEnergies(layer, family, [0.3])
    weights = layer.circuit_weights.numpy().astype(np.float64)
    expected = meta_oracle.central_differences(
        lambda w: oracle.maml_objective(w, 2, 0.2), weights)
    np.testing.assert_allclose(gradient, expected, atol=3e-5)
    np.testing.assert_allclose(meta.meta_gradients(episode(1))[0].numpy(), gradient, atol=1e-6)
    assert np.abs(expected).max() > 0.5


@pytest.mark.parametrize("algorithm", ["fomaml", "reptile", "metasgd"])
def test_other_meta_gradients_through_energies_equal_the_cirq_oracle(algorithm):
    family = tasks.TransverseFieldIsing(n_qubits=3)
    spec = circuits.hardware_efficient_ansatz(3, n_layers=1, entangler="cnot_ring")
    keras.utils.set_random_seed(2)
    model = models.energy_model(spec, family, state_dtype="complex128", dtype="float64")
    steps, rate = (1, 0.2) if algorithm == "metasgd" else (2, 0.2)
    meta = MetaLearner(model, algorithm, inner_steps=steps, inner_lr=rate,
                       **meta_oracle.plain(algorithm))
    meta.compile(loss=Energy())
    fields = [0.6, 1.4]
    episode = {key: value.astype("float64") for key, value in family.episode(fields).items()}
    layer = model.get_layer("circuit")
    by_variable = dict(zip(map(id, meta.trainable_variables), meta.meta_gradients(episode)))
    gradient = by_variable[id(layer.circuit_weights)].numpy()

    oracle = CirqEnergies(layer, family, fields)
    weights = layer.circuit_weights.numpy()
    adapted = []
    for task in range(len(fields)):
        adapted.append(weights)
        for _ in range(steps):
            adapted[task] = adapted[task] - rate * oracle.gradient(adapted[task], task)
    if algorithm == "fomaml":   # the query gradient at the adapted weights
        expected = np.mean([oracle.gradient(w, t) for t, w in enumerate(adapted)], axis=0)
    elif algorithm == "reptile":   # θ − mean_t φ_t
        expected = weights - np.mean(adapted, axis=0)
    else:   # second order through one step with per-weight rates, and the rates' own gradient
        expected = meta_oracle.central_differences(
            lambda w: oracle.maml_objective(w, 1, rate), weights)
        rates = [v for v in meta.trainable_variables if v is not layer.circuit_weights]
        assert len(rates) == 1
        expected_rates = np.mean([-oracle.gradient(weights, t) * oracle.gradient(w, t)
                                  for t, w in enumerate(adapted)], axis=0)
        np.testing.assert_allclose(np.ravel(by_variable[id(rates[0])].numpy()), expected_rates,
                                   atol=1e-6)
    np.testing.assert_allclose(gradient, expected, atol=1e-6)
    assert np.linalg.norm(expected) > 1e-2


def test_maxcut_features_energies_and_approximation_ratios():
    family = tasks.MaxCut(n_nodes=6, graph="erdos-renyi", edge_probability=0.6)
    graphs = family.sample_parameters(4, seed=0)
    for graph in graphs:
        features = family.features(graph)
        assert features.sum() == graph.number_of_edges()
        assert family.ground_energy(graph) == pytest.approx(
            hamiltonians.ground_energy(family.hamiltonian(graph), 6), abs=1e-9)
    # ⟨Z_i Z_j⟩ = 0 for every pair (the uniform superposition): half of every edge is cut.
    ratios = family.approximation_ratios(np.zeros(4), graphs)
    expected = [g.number_of_edges() / 2 / hamiltonians.max_cut(g) for g in graphs]
    np.testing.assert_allclose(ratios, expected)


def test_family_arguments_are_checked():
    with pytest.raises(ValueError, match="`delta_range` must be an interval"):
        tasks.XXZChain(delta_range=(1.0, -1.0))
    with pytest.raises(ValueError, match="`n_nodes` must be even for 3-regular graphs"):
        tasks.MaxCut(n_nodes=7)
    with pytest.raises(ValueError, match="`graph` must be one of"):
        tasks.MaxCut(graph="grid")
    with pytest.raises(ValueError, match="`graph` has 5 nodes; this family's graphs have 6"):
        tasks.MaxCut(n_nodes=6).features(nx.cycle_graph(5))
    family = tasks.XXZChain(n_qubits=4)
    with pytest.raises(ValueError, match="`ansatz` reads 2 features .* but the family's tasks "
                                         "have 1"):
        models.energy_model(circuits.reuploading_circuit(4, 1, n_features=2), family)
    with pytest.raises(ValueError, match=r"`ansatz` acts on 3 qubits, but the family's "
                                         r"Hamiltonians act on 4 .* lacks \[cirq.LineQubit\(3\)\]"):
        models.energy_model(circuits.hardware_efficient_ansatz(3), family)


def test_state_size_check_in_closed_form():
    memory.check_state_fits(20, available_bytes=8 * 2 ** 20)   # exactly one state vector
    with pytest.raises(ValueError, match=r"`n_nodes` is 21: one state vector of 21 qubits takes "
                                         r"16.0 MiB, more than the 8.0 MiB .* `n_nodes` must be "
                                         r"at most 20"):
        memory.check_state_fits(21, "n_nodes", available_bytes=8 * 2 ** 20)


@pytest.mark.parametrize("family, argument", [(tasks.XXZChain, "n_qubits"),
                                              (tasks.TransverseFieldIsing, "n_qubits"),
                                              (tasks.MaxCut, "n_nodes")])
def test_a_family_too_large_for_memory_is_refused_naming_its_size(monkeypatch, family, argument):
    # 1 MiB available: 17 qubits (1 MiB per state) fit, 18 do not.
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 2 ** 20)
    with pytest.raises(ValueError, match=rf"`{argument}` is 18: .* takes 2.0 MiB, more than "
                                         rf"the 1.0 MiB .* `{argument}` must be at most 17"):
        family(**{argument: 18})
    assert family(**{argument: 16}).n_qubits == 16


def test_a_family_beyond_any_machine_is_refused():
    with pytest.raises(ValueError, match=r"`n_qubits` is 40: one state vector of 40 qubits takes "
                                         r"8.0 TiB"):
        tasks.XXZChain(n_qubits=40)

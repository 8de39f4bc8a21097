"""Ansatzes of quantum task families against closed forms: QAOA's p = 1 cut on triangle-free
regular graphs and its p = 2 fixed-angle cut on a girth-6 one, the energies of the ansatzes'
initial states, the rotation convention against a matrix exponential, and Meta-VQE's Δ-linear
encoding."""
import cirq
import networkx as nx
import numpy as np
import pytest
import scipy.linalg

from tfq_meta import circuits, hamiltonians, models, tasks
from tfq_meta.circuits.hamiltonian_ansatzes import _two_qubit_rotation


def expectation(spec, values, hamiltonian):
    simulator = cirq.Simulator(dtype=np.complex128)
    return float(np.real(simulator.simulate_expectation_values(
        spec.circuit, [hamiltonian], param_resolver={str(k): v for k, v in values.items()},
        qubit_order=cirq.LineQubit.range(len(spec.qubits)))[0]))


@pytest.mark.parametrize("gate, pauli", [(cirq.XXPowGate, cirq.X), (cirq.YYPowGate, cirq.Y),
                                         (cirq.ZZPowGate, cirq.Z)])
def test_two_qubit_rotation_is_the_exponential_of_the_pauli_product(gate, pauli):
    a, b = cirq.LineQubit.range(2)
    angle = 0.37
    unitary = cirq.unitary(_two_qubit_rotation(gate, angle, a, b))
    expected = scipy.linalg.expm(-1j * angle * cirq.unitary(pauli(a) * pauli(b)))
    phase = expected[0, 0] / unitary[0, 0]
    np.testing.assert_allclose(unitary * phase, expected, atol=1e-12)


@pytest.mark.parametrize("graph", [nx.cubical_graph(), nx.petersen_graph()],
                         ids=["cube", "petersen"])
@pytest.mark.parametrize("gamma, beta", [(0.6155, np.pi / 8), (0.3, 0.9), (1.1, -0.2)])
def test_qaoa_p1_cut_on_triangle_free_cubic_graphs_is_the_closed_form(graph, gamma, beta):
    # p = 1 on a triangle-free d-regular graph: each edge is cut with probability
    # 1/2 + sin(4β) sin(γ) cos^(d-1)(γ) / 2.
    n = graph.number_of_nodes()
    per_edge = 0.5 + 0.5 * np.sin(4 * beta) * np.sin(gamma) * np.cos(gamma) ** 2
    energy_of = hamiltonians.maxcut_hamiltonian(graph)
    fixed = circuits.qaoa_ansatz(n, p=1, graph=graph)
    cut = graph.number_of_edges() / 2 - expectation(fixed, {"gamma0": gamma, "beta0": beta},
                                                    energy_of)
    assert cut == pytest.approx(graph.number_of_edges() * per_edge, abs=1e-9)
    # The circuit for every graph, given the graph's edges as features, is the same.
    family_circuit = circuits.qaoa_ansatz(n, p=1)
    features = tasks.MaxCut(n_nodes=n).features(graph)
    values = {"gamma0": gamma, "beta0": beta,
              **{str(s): f for s, f in zip(family_circuit.data_symbols, features)}}
    assert expectation(family_circuit, values, energy_of) == \
        pytest.approx(graph.number_of_edges() / 2 - cut, abs=1e-9)


def test_fixed_angles_reach_the_known_p1_ratio_on_large_girth_cubic_graphs():
    # sin(γ) cos²(γ) is largest at tan γ = 1/√2: 0.6925 of the edges are cut.
    gamma = np.arctan(1 / np.sqrt(2))
    assert 0.5 + 0.5 * np.sin(gamma) * np.cos(gamma) ** 2 == pytest.approx(0.6925, abs=5e-5)
    graph = nx.petersen_graph()   # girth 5: p = 1 sees no cycle
    cut = 7.5 - expectation(circuits.qaoa_ansatz(10, graph=graph),
                            {"gamma0": gamma, "beta0": np.pi / 8},
                            hamiltonians.maxcut_hamiltonian(graph))
    assert cut / graph.number_of_edges() == pytest.approx(0.69245, abs=1e-4)


def test_p2_fixed_angles_reach_the_known_ratio_on_a_girth_6_cubic_graph():
    # Wurtz & Lykov (2021), p = 2 on 3-regular graphs: γ = (0.488, 0.898), β = (0.555, 0.293)
    # cut 0.7559 of the edges of any graph without cycles of length ≤ 5 (2p + 1): the layers'
    # order and the angles' convention are those of the paper.
    graph = nx.heawood_graph()   # 14 nodes, girth 6
    angles = {"gamma0": 0.48788735, "gamma1": 0.89775859, "beta0": 0.55475546,
              "beta1": 0.29225740}
    cut = 10.5 - expectation(circuits.qaoa_ansatz(14, p=2, graph=graph), angles,
                             hamiltonians.maxcut_hamiltonian(graph))
    assert cut / graph.number_of_edges() == pytest.approx(0.7559, abs=1e-4)


def test_xxz_ansatz_starts_from_singlets():
    # Each singlet bond has ⟨XX⟩ = ⟨YY⟩ = ⟨ZZ⟩ = -1, bonds between singlets 0, ⟨Z⟩ = 0.
    spec = circuits.xxz_ansatz(6, n_layers=2)
    zeros = {str(s): 0.0 for s in spec.weight_symbols}
    for delta in (-0.7, 0.4):
        assert expectation(spec, zeros, hamiltonians.xxz_chain(6, delta)) == \
            pytest.approx(3 * (-2 - delta), abs=1e-9)
    assert len(spec.weight_symbols) == 10


def test_tfim_ansatz_starts_from_the_plus_state():
    spec = circuits.tfim_ansatz(5, n_layers=3)
    zeros = {str(s): 0.0 for s in spec.weight_symbols}
    assert expectation(spec, zeros, hamiltonians.transverse_field_ising(5, 1.3)) == \
        pytest.approx(-1.3 * 5, abs=1e-9)


def test_meta_vqe_encoding_is_linear_in_delta():
    spec = circuits.meta_vqe_ansatz(4, encoding_layers=2, processing_layers=1)
    assert len(spec.weight_symbols) == (4 * 2 + 2) * 4 and [str(s) for s in spec.data_symbols] == \
        ["x0"]
    rng = np.random.default_rng(0)
    offsets = {str(s): rng.uniform(0, np.pi) for s in spec.weight_symbols}
    hamiltonian = hamiltonians.xxz_chain(4, 0.5)
    flat = {**offsets, **{name: 0.0 for name in offsets if name.startswith("a")}}
    # Without slopes the state does not depend on Δ; with them, Δ = 0 is the state without them.
    assert expectation(spec, {**flat, "x0": 0.9}, hamiltonian) == \
        pytest.approx(expectation(spec, {**flat, "x0": -0.3}, hamiltonian), abs=1e-12)
    assert expectation(spec, {**offsets, "x0": 0.0}, hamiltonian) == \
        pytest.approx(expectation(spec, {**flat, "x0": 0.0}, hamiltonian), abs=1e-12)
    assert expectation(spec, {**offsets, "x0": 0.9}, hamiltonian) != \
        pytest.approx(expectation(spec, {**flat, "x0": 0.9}, hamiltonian), abs=1e-3)
    # CNOTs on alternating pairs: (0,1), (2,3) in layer 0; (1,2) in layer 1.
    cnots = [tuple(q.x for q in op.qubits) for op in spec.circuit.all_operations()
             if op.gate == cirq.CNOT]
    assert cnots == [(0, 1), (2, 3), (1, 2), (0, 1), (2, 3)]


def test_ansatz_arguments_are_checked():
    with pytest.raises(ValueError, match="needs an even number; got 5"):
        circuits.xxz_ansatz(5)
    with pytest.raises(ValueError, match="`encoding_layers` must be at least 1"):
        circuits.meta_vqe_ansatz(4, encoding_layers=0)
    with pytest.raises(ValueError, match="`graph` has 5 nodes, but `n_nodes` is 6"):
        circuits.qaoa_ansatz(6, graph=nx.cycle_graph(5))
    with pytest.raises(ValueError, match="`graph` has no edges"):
        circuits.qaoa_ansatz(4, graph=nx.empty_graph(4))
    with pytest.raises(ValueError, match="`p` must be a positive int"):
        circuits.qaoa_ansatz(4, p=0)


def total_z(qubits):
    return sum(cirq.Z(q) for q in qubits)


@pytest.mark.parametrize("x0, singlets", [(-0.9, 0), (-0.2, 1), (0.3, 2), (0.9, 3)])
def test_singlet_sector_encoding_turns_pairs_into_singlets_above_their_thresholds(x0, singlets):
    qubits = cirq.LineQubit.range(6)
    spec = circuits.singlet_sector_encoding(qubits, thresholds=[-0.5, 0.0, 0.5])
    state = cirq.Simulator(dtype=np.complex128).simulate(
        spec.circuit, param_resolver={"x0": x0}, qubit_order=qubits).final_state_vector
    down = np.array([0.0, 1.0])
    singlet = np.array([0.0, 1.0, -1.0, 0.0]) / np.sqrt(2)
    expected = np.array([1.0])
    for pair in range(3):
        expected = np.kron(expected, singlet if pair < singlets else np.kron(down, down))
    # Each switch is 0.2 or more from its threshold: σ(±8) leaves at most 3e-4 of the other state.
    assert abs(np.vdot(expected, state)) ** 2 == pytest.approx(1.0, abs=2e-3)
    z = expectation(spec, {"x0": x0}, total_z(qubits))
    assert z == pytest.approx(-(6 - 2 * singlets), abs=1e-2)


def test_number_conserving_layers_keep_the_magnetization():
    qubits = cirq.LineQubit.range(5)
    spec = circuits.number_conserving_layers(qubits, n_layers=2)
    assert len(spec.weight_symbols) == 2 * 5 * 2 and not spec.data_symbols
    rng = np.random.default_rng(0)
    resolved = cirq.resolve_parameters(
        spec.circuit, {str(s): rng.uniform(-2, 2) for s in spec.weight_symbols})
    unitary = cirq.unitary(resolved)
    magnetization = total_z(qubits).matrix(qubits)
    np.testing.assert_allclose(unitary @ magnetization, magnetization @ unitary, atol=1e-10)
    # ... and are not trivial: they move a spin from qubit 0 along the chain.
    moved = cirq.Simulator().simulate(cirq.Circuit(cirq.X(qubits[0])) + resolved,
                                      qubit_order=qubits).final_state_vector
    assert abs(moved[0b10000]) ** 2 < 0.9


@pytest.mark.parametrize("engine", ["statevector", "qsim"])
def test_sector_ansatz_energies_on_both_engines_equal_cirq(engine):
    family = tasks.XXZChain(n_qubits=4)
    spec = (circuits.singlet_sector_encoding(4, np.array([-0.3, 0.4])) +
            circuits.number_conserving_layers(4, n_layers=2))
    model = models.energy_model(spec, family, engine=engine)
    layer = model.get_layer("circuit")
    weights = dict(zip(map(str, layer.weight_symbols), layer.circuit_weights.numpy()))
    deltas = [-0.8, 0.0, 0.35, 1.0]
    x, y = family.data(deltas)
    energies = np.sum(y * model(x).numpy(), axis=-1)
    expected = [expectation(spec, {**weights, "x0": d}, family.hamiltonian(d)) for d in deltas]
    np.testing.assert_allclose(energies, expected, atol=2e-5)


def test_symmetry_builders_check_their_arguments():
    with pytest.raises(ValueError, match="`thresholds` must be a list of 2 finite numbers"):
        circuits.singlet_sector_encoding(4, thresholds=[0.1])
    with pytest.raises(ValueError, match="`thresholds`"):
        circuits.singlet_sector_encoding(4, thresholds=[0.1, float("nan")])
    with pytest.raises(ValueError, match="`qubits`.*even number; got 5"):
        circuits.singlet_sector_encoding(5, thresholds=[0.1, 0.2])
    with pytest.raises(ValueError, match="`sharpness`"):
        circuits.singlet_sector_encoding(4, thresholds=[0.1, 0.2], sharpness=0)
    with pytest.raises(ValueError, match="at least 2 qubits; got 1"):
        circuits.number_conserving_layers(1)

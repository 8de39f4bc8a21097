"""Hamiltonians against matrices built independently in NumPy, ground energies against quoted
values, a free-fermion closed form and dense diagonalization, maximum cuts against enumeration
and known graphs, and the errors for input that is not a Hamiltonian."""
import functools
import itertools

import cirq
import networkx as nx
import numpy as np
import pytest

from tfq_meta import hamiltonians

I2 = np.eye(2)
PAULI = {"X": np.array([[0, 1], [1, 0]]), "Y": np.array([[0, -1j], [1j, 0]]),
         "Z": np.diag([1.0, -1.0])}


def operator(n_qubits, **factors):
    """The ⊗ product with PAULI[name] on the given qubits (keys 'q3': 'X'), identity elsewhere;
    qubit 0 is the leftmost factor."""
    on = {int(key[1:]): PAULI[value] for key, value in factors.items()}
    return functools.reduce(np.kron, [on.get(q, I2) for q in range(n_qubits)])


def xxz_matrix(n, delta, field):
    matrix = sum(operator(n, **{f"q{i}": p, f"q{(i + 1) % n}": p}) * (delta if p == "Z" else 1)
                 for i in range(n) for p in "XYZ")
    return matrix + field * sum(operator(n, **{f"q{i}": "Z"}) for i in range(n))


def tfim_matrix(n, field):
    return (-sum(operator(n, **{f"q{i}": "Z", f"q{(i + 1) % n}": "Z"}) for i in range(n))
            - field * sum(operator(n, **{f"q{i}": "X"}) for i in range(n)))


def test_builders_equal_numpy_matrices():
    qubits = cirq.LineQubit.range(4)
    for built, expected in [
            (hamiltonians.xxz_chain(4, delta=0.3, field=0.75), xxz_matrix(4, 0.3, 0.75)),
            (hamiltonians.transverse_field_ising(4, field=1.3), tfim_matrix(4, 1.3))]:
        np.testing.assert_allclose(built.matrix(qubits), expected, atol=1e-12)
        np.testing.assert_allclose(hamiltonians.sparse_matrix(built, 4).toarray(), expected,
                                   atol=1e-12)
    graph = nx.Graph([(0, 1), (1, 2), (0, 3)])
    expected = 0.5 * sum(operator(4, **{f"q{i}": "Z", f"q{j}": "Z"}) for i, j in graph.edges)
    np.testing.assert_allclose(hamiltonians.maxcut_hamiltonian(graph).matrix(qubits), expected,
                               atol=1e-12)


@pytest.mark.parametrize("delta, energy", [(-1.0934297, -14.7474379),
                                           (-0.00080148, -11.1549197),
                                           (1.0980594, -15.0885543)])
def test_xxz_ground_energies_at_8_qubits_equal_the_quoted_values(delta, energy):
    # Δ and E are quoted to 7 decimals; |dE/dΔ| = |Σ⟨Z Z⟩| ≤ 8 turns Δ's rounding (5e-8) into up
    # to 4e-7 of E.
    assert hamiltonians.ground_energy(hamiltonians.xxz_chain(8, delta)) == \
        pytest.approx(energy, abs=1e-6)


@pytest.mark.parametrize("field", [0.5, 1.0, 1.5])
def test_periodic_ising_ground_energy_equals_the_free_fermion_closed_form(field):
    # Jordan-Wigner: the ground state lies in the even sector, momenta k = (2m + 1) π / N.
    n = 8
    momenta = (2 * np.arange(n) + 1) * np.pi / n
    closed_form = -np.sum(np.sqrt(1 + field ** 2 - 2 * field * np.cos(momenta)))
    energy = hamiltonians.ground_energy(hamiltonians.transverse_field_ising(n, field))
    assert energy == pytest.approx(closed_form, abs=1e-9)


def test_sparse_lanczos_gives_the_quoted_values_and_the_dense_spectrum(monkeypatch):
    monkeypatch.setattr(hamiltonians, "DENSE_MAX_QUBITS", 4)  # 8 qubits take the sparse path
    assert hamiltonians.ground_energy(hamiltonians.xxz_chain(8, -1.0934297)) == \
        pytest.approx(-14.7474379, abs=1e-6)
    expected = np.linalg.eigvalsh(tfim_matrix(6, 0.9))[0]
    assert hamiltonians.ground_energy(hamiltonians.transverse_field_ising(6, 0.9)) == \
        pytest.approx(expected, abs=1e-9)


def brute_force_cut(graph):
    best = 0.0
    for sides in itertools.product((0, 1), repeat=graph.number_of_nodes()):
        best = max(best, sum(data.get("weight", 1.0) for i, j, data in graph.edges(data=True)
                             if sides[i] != sides[j]))
    return best


@pytest.mark.parametrize("graph, best", [
    (nx.cycle_graph(5), 4), (nx.cycle_graph(6), 6), (nx.complete_graph(5), 6),
    (nx.petersen_graph(), 12)])
def test_max_cut_of_known_graphs(graph, best):
    assert hamiltonians.max_cut(graph) == best


def test_max_cut_equals_enumeration_on_random_weighted_graphs():
    rng = np.random.default_rng(0)
    for seed in range(3):
        graph = nx.gnp_random_graph(9, 0.5, seed=seed)
        for i, j in graph.edges:
            graph[i][j]["weight"] = rng.uniform(0.1, 2.0)
        assert hamiltonians.max_cut(graph) == pytest.approx(brute_force_cut(graph), abs=1e-12)


def test_the_ground_energy_of_maxcut_is_half_the_weight_minus_the_best_cut():
    graph = nx.random_regular_graph(3, 8, seed=1)
    energy = hamiltonians.ground_energy(hamiltonians.maxcut_hamiltonian(graph))
    assert energy == pytest.approx(graph.number_of_edges() / 2 - hamiltonians.max_cut(graph))


Q = cirq.LineQubit.range(3)


@pytest.mark.parametrize("hamiltonian, message", [
    (1j * cirq.Z(Q[0]) + cirq.X(Q[1]), r"`hamiltonian` must be Hermitian.*Z\(q\(0\)\).*1j"),
    (cirq.PauliSum(), "empty PauliSum"),
    ("Z0", "must be a cirq.PauliSum; got str"),
    (cirq.Z(cirq.GridQubit(0, 0)) + cirq.X(cirq.GridQubit(0, 1)), "act on cirq.LineQubits"),
])
@pytest.mark.parametrize("function", [hamiltonians.ground_energy, hamiltonians.sparse_matrix])
def test_what_is_not_a_hamiltonian_is_refused(hamiltonian, message, function):
    with pytest.raises((ValueError, TypeError), match=message):
        function(hamiltonian)


def test_a_sparse_matrix_has_room_for_every_qubit_of_its_hamiltonian():
    # Too few qubits used to drop the terms on the others, silently.
    with pytest.raises(ValueError, match="`n_qubits`=2, but `hamiltonian` acts on qubit 3"):
        hamiltonians.sparse_matrix(cirq.Z(cirq.LineQubit(3)) + cirq.X(cirq.LineQubit(0)), 2)
    matrix = hamiltonians.sparse_matrix(1.0 * cirq.Z(cirq.LineQubit(1))).toarray()
    np.testing.assert_allclose(matrix, np.diag([1.0, -1.0, 1.0, -1.0]))


def test_too_many_qubits_and_bad_graphs_are_refused():
    with pytest.raises(ValueError, match="acts on 17 qubits; exact ground energies .* up to 16"):
        hamiltonians.ground_energy(cirq.Z(cirq.LineQubit(16)) + cirq.Z(cirq.LineQubit(0)))
    with pytest.raises(ValueError, match="`graph` has no edges"):
        hamiltonians.max_cut(nx.empty_graph(4))
    with pytest.raises(ValueError, match="nodes 0 … n-1"):
        hamiltonians.max_cut(nx.Graph([("a", "b")]))
    with pytest.raises(ValueError, match="`graph` has 21 nodes"):
        hamiltonians.max_cut(nx.cycle_graph(21))
    with pytest.raises(ValueError, match="`delta` must be a finite number; got nan"):
        hamiltonians.xxz_chain(4, float("nan"))
    with pytest.raises(ValueError, match="at least 3 for a periodic chain"):
        hamiltonians.transverse_field_ising(2, 1.0)

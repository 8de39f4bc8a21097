"""MaxCut on random graphs: the QAOA benchmark family."""
import itertools

import cirq
import networkx as nx
import numpy as np

from tfq_meta import hamiltonians
from tfq_meta._validation import check_choice, check_unit_interval
from tfq_meta.tasks.hamiltonian_family import HamiltonianFamily, check_family_size

GRAPHS = ("3-regular", "erdos-renyi")


class MaxCut(HamiltonianFamily):
    """MaxCut on random graphs, one task per graph, as the energy ``Σ_{(i,j)∈E} Z_i Z_j / 2``.

    Minimizing the energy ``E`` maximizes the expected cut ``|E|/2 − E`` (weights 1). The terms are
    ``Z_i Z_j`` for every pair of nodes, so one circuit measures any graph of the family; a
    graph's coefficients are 1/2 on its edges and 0 elsewhere. Its features are the same
    edge indicators (1 on edges), which the QAOA ansatz of
    :func:`tfq_meta.circuits.qaoa_ansatz` reads as data.

    Args:
        n_nodes: nodes per graph (qubits), at least 3; one state vector of them must fit in
            memory.
        graph: ``"3-regular"`` (uniform random 3-regular graphs) or ``"erdos-renyi"`` (each edge
            with probability ``edge_probability``, redrawn until it has an edge).
        edge_probability: for Erdős–Rényi graphs.

    Example:
    >>> family = MaxCut(n_nodes=6)
    >>> graph = family.sample_parameters(1, seed=0)[0]
    >>> graph.number_of_edges(), family.max_cut(graph) <= 9
    (9, True)
    >>> len(family.terms)   # 6 · 5 / 2 pairs
    15
    """

    def __init__(self, n_nodes=8, graph="3-regular", edge_probability=0.5):
        self.n_qubits = n_nodes = check_family_size(n_nodes, "n_nodes")
        self.graph = check_choice(graph, GRAPHS, "graph")
        self.edge_probability = check_unit_interval(edge_probability, "edge_probability")
        if n_nodes < 3:
            raise ValueError(f"`n_nodes` must be at least 3; got {n_nodes}.")
        if graph == "3-regular" and n_nodes % 2:
            raise ValueError(f"`n_nodes` must be even for 3-regular graphs (3 · n is twice the "
                             f"number of edges); got {n_nodes}.")
        if graph == "erdos-renyi" and edge_probability == 0:
            raise ValueError("`edge_probability` is 0: every graph would have no edges.")
        self.pairs = list(itertools.combinations(range(n_nodes), 2))
        q = cirq.LineQubit.range(n_nodes)
        self.terms = [cirq.Z(q[i]) * cirq.Z(q[j]) for i, j in self.pairs]

    def sample_parameter(self, rng):
        seed = int(rng.integers(2 ** 31))
        if self.graph == "3-regular":
            return nx.random_regular_graph(3, self.n_qubits, seed=seed)
        while True:
            graph = nx.gnp_random_graph(self.n_qubits, self.edge_probability, seed=seed)
            if graph.number_of_edges():
                return graph
            seed += 1

    def features(self, graph):
        """float64 ``[len(pairs)]``: the weight of each pair's edge, 0 for no edge."""
        n_nodes, edges = hamiltonians.graph_edges(graph)
        if n_nodes != self.n_qubits:
            raise ValueError(f"`graph` has {n_nodes} nodes; this family's graphs have "
                             f"{self.n_qubits}.")
        weights = dict.fromkeys(self.pairs, 0.0)
        weights.update({(i, j): float(w) for i, j, w in edges})
        return np.array([weights[pair] for pair in self.pairs])

    def coefficients(self, graph):
        return 0.5 * self.features(graph)

    def max_cut(self, graph):
        """The best cut (:func:`tfq_meta.hamiltonians.max_cut`)."""
        return hamiltonians.max_cut(graph)

    def ground_energy(self, graph):
        return 0.5 * self.features(graph).sum() - self.max_cut(graph)

    def approximation_ratios(self, energies, graphs):
        """Expected cut over the best cut of each graph: ``(W/2 − E) / max_cut``."""
        energies = np.asarray(energies)
        if energies.shape != (len(graphs),):
            raise ValueError(f"`energies` must hold one energy per graph, shape "
                             f"[{len(graphs)}]; got shape {list(energies.shape)}.")
        return np.array([(0.5 * self.features(g).sum() - e) / self.max_cut(g)
                         for e, g in zip(energies, graphs)])

"""Cirq circuit builders. Each returns a :class:`CircuitSpec`: the circuit with its data symbols
(fed from features) and weight symbols (trained), in the order a :class:`tfq_meta.layers.PQC`
expects them. Specs compose with ``+``.

- :mod:`.builders`: data encodings, hardware-efficient ansatzes, data re-uploading;
- :mod:`.hamiltonian_ansatzes`: ansatzes of quantum task families: Meta-VQE's encoding and
  processing layers, the Hamiltonian variational ansatz of the XXZ and Ising chains, QAOA, and
  symmetry-keeping circuits (a magnetization-sector encoding and number-conserving layers).
"""
from tfq_meta.circuits.builders import (ENTANGLERS, ROTATIONS, angle_encoding,
                                        hardware_efficient_ansatz, reuploading_circuit)
from tfq_meta.circuits.hamiltonian_ansatzes import (meta_vqe_ansatz, number_conserving_layers,
                                                    qaoa_ansatz, singlet_sector_encoding,
                                                    tfim_ansatz, xxz_ansatz)
from tfq_meta.circuits.spec import CircuitSpec

__all__ = ["CircuitSpec", "ENTANGLERS", "ROTATIONS", "angle_encoding", "hardware_efficient_ansatz",
           "meta_vqe_ansatz", "number_conserving_layers", "qaoa_ansatz", "reuploading_circuit",
           "singlet_sector_encoding", "tfim_ansatz", "xxz_ansatz"]

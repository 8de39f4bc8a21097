"""The ``statevector`` engine: a batched state vector simulated with plain TensorFlow ops.

Nothing here is TFQ: TensorFlow differentiates it to any order and XLA compiles it. For small
circuits this beats TFQ's qsim ops by a wide margin, because qsim spends most of its time on
per-circuit setup; bench/bench_engines.py measures the crossover.

A lowered circuit (:class:`tfq_meta.lowering.LoweredCircuit`) becomes expectations in four
stages, one module each:

* :mod:`.compiler` (NumPy and Cirq only, with :mod:`.polynomials`, :mod:`.permutations` and
  :mod:`.layout`): the circuit, once, as a short :class:`~.compiler.Program` of steps: fused
  single-qubit runs and parameterized gates as trigonometric polynomials of the gate values,
  constant gates as matrices or composed permutations.
* :mod:`.matrices`: every gate-value-dependent matrix of every example, ``gate_values``
  ``[batch, n_gate_symbols]`` → ``[batch, 2, …]``, in a few ops for all of them.
* :mod:`.runtime`: :class:`StatevectorEngine`, which applies the program to the state
  ``[batch, 2^n]``, one contraction or gather (:mod:`.gather`) per step, with an executor and an
  XLA formulation of each.
* :mod:`.observables`: Pauli sums' expectations ``[batch, n_observables]`` of the final states.

The NumPy modules import nothing from TensorFlow or from the rest of tfq_meta (relative imports
among themselves only), so that the compiler can be loaded and tested without TensorFlow.
"""
from .compiler import MAX_TERMS, Program, compile_circuit
from .runtime import MAX_QUBITS, StatevectorEngine

__all__ = ["MAX_QUBITS", "MAX_TERMS", "Program", "StatevectorEngine", "compile_circuit"]

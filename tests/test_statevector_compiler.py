"""The statevector compiler against ``cirq.unitary``, in NumPy, without TensorFlow.

``tfq_meta/__init__.py`` imports TensorFlow, and so does the engine package's ``__init__``
(the runtime). The compiler's modules import only NumPy, Cirq and each other, relatively, so this
file mounts the package's directory as a package of its own, ``statevector_numpy``, whose
``__init__`` never runs: nothing here imports TensorFlow (checked in a fresh interpreter).
"""
import importlib
import sys
import types
from pathlib import Path

import cirq
import numpy as np
import pytest
import sympy
from conftest import run_fresh_python

PACKAGE = Path(__file__).resolve().parents[1] / "tfq_meta" / "engines" / "statevector"


def load_compiler():
    """``tfq_meta/engines/statevector/compiler.py`` as ``statevector_numpy.compiler``. Its one
    absolute import, ``tfq_meta._compat.cirq`` (Cirq's private API), is NumPy-free too: where
    tfq_meta is not imported yet, its directory is mounted without running its ``__init__``,
    and unmounted again afterwards, so that test modules collected later import the real one."""
    mounted = []
    for name, path in (("tfq_meta", PACKAGE.parents[1]), ("statevector_numpy", PACKAGE)):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [str(path)]
            sys.modules[name] = package
            mounted.append(name)
    compiler = importlib.import_module("statevector_numpy.compiler")
    if "tfq_meta" in mounted:
        for name in [name for name in sys.modules if name.split(".")[0] == "tfq_meta"]:
            del sys.modules[name]
    return compiler


compiler = load_compiler()
QUBITS = [cirq.GridQubit(0, 2), cirq.GridQubit(1, 0), cirq.GridQubit(0, 1), cirq.GridQubit(0, 0)]
# Lowered circuits hold EigenGates whose exponent is one gate symbol: tfq_meta.lowering makes them
# with the gate's own _with_exponent, and so do these.
PARAMETERIZED_GATES = [
    cirq.rx(0.1), cirq.ry(0.1), cirq.rz(0.1), cirq.X, cirq.Y, cirq.Z, cirq.H, cirq.XX, cirq.YY,
    cirq.ZZ, cirq.CNOT, cirq.CZ, cirq.SWAP, cirq.ISWAP, cirq.CCZ, cirq.CCX,
    cirq.ZPowGate(global_shift=0.3),
]


def monomial_unitary(dimension, rng):
    """A random permutation matrix times random phases: a constant gate the compiler turns into
    a permutation step."""
    phases = np.exp(2j * np.pi * rng.random(dimension))
    return np.eye(dimension)[rng.permutation(dimension)] * phases


def constant_gates(rng):
    return [
        cirq.H, cirq.X, cirq.Y, cirq.Z, cirq.S, cirq.T, cirq.CNOT, cirq.CZ, cirq.SWAP, cirq.ISWAP,
        cirq.CCZ, cirq.CCX, cirq.CSWAP, cirq.X ** 0.3, cirq.ZZ ** 0.7, cirq.CZ ** 0.4,
        cirq.PhasedXPowGate(phase_exponent=0.2, exponent=0.4), cirq.FSimGate(0.3, 0.5),
        *(cirq.MatrixGate(cirq.testing.random_unitary(d, random_state=int(rng.integers(2 ** 31))))
          for d in (2, 4, 8)),
        cirq.MatrixGate(monomial_unitary(2, rng)), cirq.MatrixGate(monomial_unitary(4, rng)),
    ]


def random_circuit(seed, n_operations=30):
    """A lowered circuit over the whole gate set and its gate symbols' names."""
    rng = np.random.default_rng(seed)
    constants, circuit, names = constant_gates(rng), cirq.Circuit(), []
    for _ in range(n_operations):
        if rng.random() < 0.4:
            gate = constants[rng.integers(len(constants))]
        else:
            names.append(f"_g{len(names)}")
            gate = PARAMETERIZED_GATES[rng.integers(len(PARAMETERIZED_GATES))]._with_exponent(
                sympy.Symbol(names[-1]))
        qubits = rng.choice(len(QUBITS), gate.num_qubits(), replace=False)
        circuit.append(gate.on(*(QUBITS[i] for i in qubits)))
    return circuit, names


def resolved(circuit, names, values):
    return cirq.resolve_parameters(circuit, dict(zip(names, values)))


def assert_equal_up_to_global_phase(actual, expected, atol=1e-10):
    phase = np.vdot(expected.reshape(-1), actual.reshape(-1)) / np.vdot(
        expected.reshape(-1), expected.reshape(-1))
    assert abs(abs(phase) - 1) < atol
    np.testing.assert_allclose(actual, phase * expected, atol=atol)


def steps_unitary(steps, values, n):
    """The product of ``steps`` at ``values``, column by column from the basis states."""
    columns = []
    for column in np.eye(2 ** n, dtype=complex):
        for step in steps:
            column = step.apply(column, values)
        columns.append(column)
    return np.stack(columns, axis=1)


def test_compiler_imports_without_tensorflow():
    result = run_fresh_python(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import test_statevector_compiler as test
        circuit, names = test.random_circuit(0)
        program = test.compiler.compile_circuit(circuit, test.QUBITS, names)
        print(len(program.steps), "tensorflow" in sys.modules, "tfq_meta" in sys.modules)
    """)
    assert result.returncode == 0, result.stderr
    n_steps, tensorflow, tfq_meta_mounted = result.stdout.split()
    assert int(n_steps) > 0 and tensorflow == "False" and tfq_meta_mounted == "False"


@pytest.mark.parametrize("seed", range(6))
def test_schedule_is_the_circuit_unitary(seed):
    circuit, names = random_circuit(seed)
    values = np.random.default_rng(seed).uniform(-2, 2, len(names))
    steps = compiler.schedule(circuit, QUBITS, names)
    assert_equal_up_to_global_phase(steps_unitary(steps, values, len(QUBITS)),
                                    resolved(circuit, names, values).unitary(qubit_order=QUBITS))
    # Fusion and composition make the program shorter than the circuit.
    assert len(steps) < len(list(circuit.all_operations()))


@pytest.mark.parametrize("seed", range(4))
def test_program_state_is_cirq_final_state(seed):
    # A leading constant layer (folded into the initial state) and a trailing CNOT ring (left
    # to the observables as `final`) exercise both ends of the program.
    circuit, names = random_circuit(seed + 10, n_operations=20)
    prefix = cirq.Circuit(cirq.H.on_each(*QUBITS), cirq.CZ(*QUBITS[:2]), cirq.T(QUBITS[3]))
    ring = cirq.Circuit(cirq.CNOT(QUBITS[i], QUBITS[(i + 1) % 4]) for i in range(4))
    circuit = prefix + circuit + ring
    values = np.random.default_rng(seed).uniform(-2, 2, len(names))
    program = compiler.compile_circuit(circuit, QUBITS, names)
    assert program.final is not None
    assert not np.isclose(abs(program.initial_state[0]), 1)
    assert isinstance(program.steps[0], compiler.PolynomialStep)
    expected = cirq.final_state_vector(resolved(circuit, names, values), qubit_order=QUBITS,
                                       dtype=np.complex128)
    assert_equal_up_to_global_phase(program.state(values), expected)


def test_hardware_efficient_layers_compile_to_one_permutation_per_ladder():
    # Rotation layers between CNOT ladders: the runs move out of the ladders, which then compose
    # into one permutation each; the last ladder is left to the observables.
    names = [f"_g{k}" for k in range(24)]
    symbols, circuit = iter(names), cirq.Circuit()
    for _ in range(3):
        circuit += [gate._with_exponent(sympy.Symbol(next(symbols)))(q)
                    for q in QUBITS for gate in (cirq.ry(0.1), cirq.rz(0.1))]
        circuit += [cirq.CNOT(QUBITS[i], QUBITS[i + 1]) for i in range(3)]
    program = compiler.compile_circuit(circuit, QUBITS, names)
    kinds = [type(step).__name__ for step in program.steps]
    assert kinds == (["PolynomialStep"] * 4 + ["PermutationStep"]) * 2 + ["PolynomialStep"] * 4
    assert program.final is not None
    values = np.random.default_rng(0).uniform(-2, 2, len(names))
    assert_equal_up_to_global_phase(program.state(values), cirq.final_state_vector(
        resolved(circuit, names, values), qubit_order=QUBITS, dtype=np.complex128))


def test_long_runs_are_products_of_polynomials_in_cosine_form():
    # Six rotations and constant gates on one qubit: 2^6 terms exceed MAX_TERMS, so the run is
    # a product of polynomials; each, summed from its cosine terms (the form the engine
    # evaluates), multiplies out to the run's unitary.
    gates = [cirq.rx(0.1), cirq.ry(0.1), cirq.H, cirq.rz(0.1), cirq.T, cirq.rx(0.1),
             cirq.Y ** 0.5, cirq.ry(0.1), cirq.XPowGate(global_shift=0.2)]
    names = [f"_g{k}" for k in range(7)]
    symbols, operations = iter(names), []
    for gate in gates:
        if gate in (cirq.H, cirq.T) or gate == cirq.Y ** 0.5:
            operations.append(gate(QUBITS[0]))
        else:
            operations.append(gate._with_exponent(sympy.Symbol(next(symbols)))(QUBITS[0]))
    circuit = cirq.Circuit(operations)
    (step,) = compiler.schedule(circuit, QUBITS[:1], names)
    assert len(step.factors) > 1
    assert all(len(factor.terms) <= compiler.MAX_TERMS for factor in step.factors)
    values = np.random.default_rng(1).uniform(-2, 2, len(names))
    product = np.eye(2)
    for factor in step.factors:
        terms = factor.real_terms()
        assert all(term.offset in (0.0, -np.pi / 2) for term in terms)
        product = sum(np.cos(sum(f * values[c] for c, f in term.frequencies.items())
                             + term.offset) * term.matrix for term in terms) @ product
    assert_equal_up_to_global_phase(
        product, resolved(circuit, names, values).unitary(qubit_order=QUBITS[:1]))


@pytest.mark.parametrize("seed", range(4))
def test_support_holds_every_entry_that_can_be_nonzero(seed):
    # The engine skips entries outside a step's support under XLA, so the support must cover
    # every nonzero entry at any gate values; for one factor it is exact.
    circuit, names = random_circuit(seed, n_operations=40)
    steps = [step for step in compiler.schedule(circuit, QUBITS, names)
             if isinstance(step, compiler.PolynomialStep)]
    samples = np.random.default_rng(seed).uniform(-2, 2, (8, len(names)))
    for step in steps:
        reached = np.any([np.abs(step.matrix(values)) > 1e-9 for values in samples], axis=0)
        assert not np.any(reached & ~step.support)
        if len(step.factors) == 1:
            np.testing.assert_array_equal(reached, step.support)


def test_support_of_an_iswap_power_is_its_six_entries():
    (step,) = compiler.schedule(cirq.Circuit(cirq.ISWAP._with_exponent(sympy.Symbol("_g0")).on(
        *QUBITS[:2])), QUBITS[:2], ["_g0"])
    expected = np.eye(4, dtype=bool)
    expected[1, 2] = expected[2, 1] = True
    np.testing.assert_array_equal(step.support, expected)


def test_gates_that_follow_each_other_on_one_pair_are_one_step():
    # Number-conserving layers: an ISWAP and a ZZ power on each bond; in moment order the ZZ on
    # (0, 1) comes after the ISWAP on (2, 3), which commutes with it.
    names = [f"_g{k}" for k in range(18)]
    symbols = iter(sympy.Symbol(name) for name in names)
    circuit = cirq.Circuit()
    for bond in [(QUBITS[0], QUBITS[1]), (QUBITS[2], QUBITS[3]), (QUBITS[1], QUBITS[2])]:
        circuit.append([cirq.ISwapPowGate(exponent=next(symbols)).on(*bond),
                        cirq.ZZPowGate(exponent=next(symbols)).on(*bond)])
    bond_steps = compiler.schedule(circuit, QUBITS, names)
    assert [len(step.axes) for step in bond_steps] == [2, 2, 2]
    # Twelve rotations on one pair, some not commuting: a step holds at most MAX_TERMS terms.
    circuit += [gate._with_exponent(next(symbols)).on(QUBITS[3], QUBITS[2])
                for gate in [cirq.XX, cirq.ISWAP, cirq.CNOT, cirq.CZ, cirq.SWAP, cirq.YY] * 2]
    steps = compiler.schedule(circuit, QUBITS, names)
    assert 3 < len(steps) < 3 + 12
    assert all(len(step.factors[0].terms) <= compiler.MAX_TERMS for step in steps)
    values = np.random.default_rng(3).uniform(-2, 2, len(names))
    assert_equal_up_to_global_phase(steps_unitary(steps, values, len(QUBITS)),
                                    resolved(circuit, names, values).unitary(qubit_order=QUBITS))


def test_constant_circuit_is_only_an_initial_state():
    circuit = cirq.Circuit(cirq.H(QUBITS[0]), cirq.CNOT(QUBITS[0], QUBITS[1]),
                           cirq.MatrixGate(cirq.testing.random_unitary(4, random_state=3)).on(
                               QUBITS[1], QUBITS[2]))
    program = compiler.compile_circuit(circuit, QUBITS[:3], [])
    assert program.steps == () and program.final is None
    assert_equal_up_to_global_phase(program.initial_state, cirq.final_state_vector(
        circuit, qubit_order=QUBITS[:3], dtype=np.complex128))


def test_operations_without_unitary_are_refused():
    circuit = cirq.Circuit(cirq.H(QUBITS[0]), cirq.measure(QUBITS[0]))
    with pytest.raises(ValueError, match="cannot simulate .*has no unitary.*engine='qsim'"):
        compiler.compile_circuit(circuit, QUBITS[:1], [])

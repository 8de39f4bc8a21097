"""Bad input gets a clear ValueError/TypeError, raised in Python, that names the argument."""
import cirq
import keras
import numpy as np
import pytest
import sympy
import tensorflow as tf

from tfq_meta import PQC, MetaLearner, circuits, models

X0, X1, A, B = sympy.symbols("x0 x1 a b")
Q = cirq.LineQubit.range(3)
CIRCUIT = cirq.Circuit(cirq.rx(X0)(Q[0]), cirq.rx(X1)(Q[1]), cirq.ry(A)(Q[0]), cirq.ry(B)(Q[2]),
                       cirq.CNOT(Q[0], Q[1]))


def layer(**options):
    return PQC(CIRCUIT, options.pop("observables", ["Z0", "Z1"]), data_symbols=[X0, X1], **options)


@pytest.mark.parametrize("features, error, match", [
    (np.zeros((4, 3), np.float32), ValueError, "`features` has 3 columns.*2 data symbols"),
    (np.zeros(4, np.float32), ValueError, r"`features` must have shape \[batch, 2\]"),
    (np.array([["a", "b"]]), TypeError, "`features` must be a float or int tensor.*string"),
    (np.ones((2, 2), bool), TypeError, "`features` must be a float or int tensor.*bool"),
    (np.ones((2, 2), np.complex64), TypeError, "`features` must be a float or int.*complex"),
    (np.array([[0.1, np.nan]], np.float32), ValueError, "`features` contains NaN or infinite"),
    (np.array([[np.inf, 0.0]], np.float32), ValueError, "`features` contains NaN or infinite"),
])
def test_bad_features(features, error, match):
    with pytest.raises(error, match=match):
        layer()(features)


def test_non_finite_features_inside_a_compiled_model():
    inputs = keras.Input((2,))
    model = keras.Model(inputs, layer()(inputs))
    with pytest.raises(Exception, match="`features` contains NaN or infinite"):
        model.predict(np.array([[0.1, np.nan]], np.float32), verbose=0)


@pytest.mark.parametrize("engine", ["statevector", "qsim"])
@pytest.mark.parametrize("angle, feature, match", [
    (A / X0, 0.0, r"exponent expression\(s\) a/\(pi\*x0\)"),
    (sympy.sqrt(X0), -1.0, r"exponent expression\(s\) sqrt\(x0\)/pi"),
])
def test_angle_expression_not_finite_at_a_feature(engine, angle, feature, match):
    pqc = PQC(cirq.Circuit(cirq.rx(angle)(Q[0])), "Z0", data_symbols=[X0], engine=engine)
    assert np.isfinite(pqc(np.array([[2.0]], np.float32)).numpy()).all()
    with pytest.raises(ValueError, match="`circuit` gate exponents computed from the symbol "
                                         f"values are NaN or infinite \\(the {match}"):
        pqc(np.array([[2.0], [feature]], np.float32))


def test_angle_expression_not_finite_inside_a_compiled_model():
    inputs = keras.Input((1,))
    pqc = PQC(cirq.Circuit(cirq.rx(A / X0)(Q[0])), "Z0", data_symbols=[X0])
    model = keras.Model(inputs, pqc(inputs))
    with pytest.raises(Exception, match="`circuit` gate exponents .* are NaN or infinite"):
        model.predict(np.array([[0.0]], np.float32), verbose=0)


@pytest.mark.parametrize("angle, can_be_non_finite", [
    (A / X0, True), (sympy.sqrt(X0), True), (sympy.log(X0), True), (sympy.tan(X0), True),
    (sympy.exp(X0), True), (A * X0 * X1, False), (A * sympy.sin(X0) + X1 ** 2, False),
    (2 ** X0, True), (sympy.tanh(20 * X0 - 2) / 2, False),
])
def test_layers_whose_angles_can_be_non_finite_run_without_xla(angle, can_be_non_finite):
    # XLA compiles the computed-angle assertion to nothing, so such a layer refuses XLA, and
    # the check runs even where jit_compile is asked for.
    pqc = PQC(cirq.Circuit(cirq.rx(angle)(Q[0]), cirq.ry(B * X1)(Q[1])), "Z0",
              data_symbols=[X0, X1])
    assert pqc.supports_jit is not can_be_non_finite
    x0 = 0.5  # where every angle is finite: ⟨Z0⟩ = cos(angle)
    value = pqc(np.array([[x0, 0.5]], np.float32)).numpy()[0, 0]
    weights = dict(zip(pqc.weight_symbols, pqc.get_weights()[0]))
    expected = np.cos(float(angle.subs({X0: x0, X1: 0.5, A: weights.get(A, 0.0)})))
    np.testing.assert_allclose(value, expected, atol=1e-5)
    if not can_be_non_finite:
        return
    inputs = keras.Input((2,))
    model = keras.Model(inputs, pqc(inputs))
    with pytest.warns(UserWarning, match="doesn't support `jit_compile=True`"):
        model.compile(loss="mse", jit_compile=True)
    assert model.jit_compile is False
    bad = {A / X0: 0.0, sympy.sqrt(X0): -1.0, sympy.log(X0): -1.0, sympy.exp(X0): 100.0,
           2 ** X0: 200.0}
    if angle in bad:  # tan(π/2) is finite in float32: no bad value to feed
        with pytest.raises(Exception, match="`circuit` gate exponents .* are NaN or infinite"):
            model.predict(np.array([[bad[angle], 0.5]], np.float32), verbose=0)
    meta = MetaLearner(model, "fomaml")
    meta.compile(loss="mse")
    assert meta.jit_compile is False


def test_int_features_are_accepted_as_angles():
    pqc = layer()
    np.testing.assert_allclose(pqc(np.array([[1, 2]], np.int32)).numpy(),
                               pqc(np.array([[1.0, 2.0]], np.float32)).numpy(), atol=0)


@pytest.mark.parametrize("observables, match", [
    ("Q0", "`observables` entry 'Q0' is not a Pauli string"),
    ("Z", "`observables` entry 'Z' is not a Pauli string"),
    ("Z0**Z1", "`observables` entry 'Z0\\*\\*Z1' is not a Pauli string"),
    ("Z0 + ", "is not a Pauli string"),
    ("Z3", "`observables` entry 'Z3' uses qubit index 3, but the circuit has 3 qubit"),
    ([], "`observables` is empty"),
    (cirq.Z(cirq.LineQubit(7)), "acts on \\[cirq.LineQubit\\(7\\)\\], which the circuit does not"),
])
def test_bad_observables(observables, match):
    with pytest.raises(ValueError, match=match):
        layer(observables=observables)


def test_observable_of_wrong_type():
    with pytest.raises(TypeError, match="`observables` entries must be Pauli strings"):
        layer(observables=[3])


def test_symbol_both_data_and_weight():
    with pytest.raises(ValueError, match=r"\['x0'\] are listed in both `data_symbols` and "
                                         "`weight_symbols`"):
        PQC(CIRCUIT, "Z0", data_symbols=[X0, X1], weight_symbols=[X0, A, B])


def test_weight_symbol_missing_from_circuit():
    with pytest.raises(ValueError, match=r"`weight_symbols` \['c'\] do not appear in the circuit, "
                                         r"whose symbols are \['x0', 'x1', 'b', 'a'\]"):
        PQC(CIRCUIT, "Z0", data_symbols=[X0, X1], weight_symbols=[A, B, "c"])


def test_non_finite_initial_value_from_a_circuit_spec():
    spec = circuits.reuploading_circuit(2, 1, trainable_scaling=True)
    name = str(spec.weight_symbols[0])
    bad = circuits.CircuitSpec(spec.circuit, spec.data_symbols, spec.weight_symbols,
                               {**spec.initial_values, name: float("inf")})
    with pytest.raises(ValueError, match=f"`initial_values` gives symbol '{name}' the value inf"):
        PQC(bad, "Z0")


def test_data_symbol_missing_from_circuit():
    with pytest.raises(ValueError, match=r"`data_symbols` \['y'\] do not appear in the circuit"):
        PQC(CIRCUIT, "Z0", data_symbols=[X0, sympy.Symbol("y")])


def test_duplicate_data_symbols():
    with pytest.raises(ValueError, match=r"`data_symbols` lists \['x0'\] more than once"):
        PQC(CIRCUIT, "Z0", data_symbols=[X0, X0])


@pytest.mark.parametrize("op, engine, match", [
    (cirq.measure(Q[0]), "auto", "cannot simulate.*MeasurementGate.*use `repetitions` for shots"),
    (cirq.measure(Q[0]), "qsim", "MeasurementGate.*cannot simulate.*use `repetitions` for shots"),
    (cirq.CCZ(*Q), "qsim", "CCZPowGate.*TensorFlow Quantum cannot simulate"),
    (cirq.MatrixGate(np.eye(2)).on(Q[0]), "qsim", "MatrixGate.*TensorFlow Quantum cannot simulate"),
    (cirq.PhasedXPowGate(phase_exponent=A)(Q[0]), "auto",
     "symbolic parameters tfq_meta cannot evaluate"),
])
def test_gates_the_simulator_cannot_run(op, engine, match):
    with pytest.raises(ValueError, match=match):
        PQC(CIRCUIT + cirq.Circuit(op), "Z0", data_symbols=[X0, X1], engine=engine)


@pytest.mark.parametrize("engine", ["auto", "statevector", "qsim"])
def test_qutrit_circuit(engine):
    qutrit = cirq.LineQid(5, dimension=3)
    circuit = CIRCUIT + cirq.Circuit(cirq.MatrixGate(np.eye(3), qid_shape=(3,)).on(qutrit))
    with pytest.raises(ValueError, match=r"`circuit` acts on cirq.LineQid\(5, dimension=3\) of "
                                         r"dimension 3: only qubits \(dimension 2\) are supported"):
        PQC(circuit, "Z0", data_symbols=[X0, X1], engine=engine)


def test_circuit_too_large_for_memory_says_how_much():
    qubits = cirq.LineQubit.range(40)
    circuit = cirq.Circuit(cirq.rx(X0)(qubits[0]), [cirq.H(q) for q in qubits])
    with pytest.raises(ValueError, match=r"40 qubits: one state vector takes 8\.0 TiB.*needs "
                                         r"about .* but only .* available"):
        PQC(circuit, "Z0", data_symbols=[X0])


@pytest.mark.parametrize("options, error, match", [
    (dict(differentiator="magic"), ValueError, "`differentiator` must be one of"),
    (dict(differentiator="adjoint", repetitions=100), ValueError,
     "`differentiator='adjoint'` needs exact expectations.*sampled"),
    (dict(differentiator="adjoint", noise=0.1), ValueError, "needs exact expectations.*noisy"),
    (dict(repetitions=0), ValueError, "`repetitions` must be None or a positive int; got 0"),
    (dict(repetitions=2.5), ValueError, "`repetitions` must be None or a positive int"),
    (dict(trajectories=-3), ValueError, "`trajectories` must be None or a positive int"),
    (dict(noise=1.5), ValueError, r"`noise` as a depolarizing probability must be in \[0, 1\]"),
    (dict(noise="loud"), TypeError, "`noise` must be None, a depolarizing probability"),
    (dict(initial_values={"zz": 1.0}), ValueError, r"`initial_values` names \['zz'\]"),
    (dict(initial_values={"a": np.nan}), ValueError,
     "`initial_values` gives symbol 'a' the value nan; initial values must be finite"),
    (dict(initial_values={B: -np.inf}), ValueError, "`initial_values` gives symbol 'b' .*-inf"),
    (dict(initial_values={"a": "one"}), TypeError, "`initial_values` gives symbol 'a' .*'one'"),
    (dict(initial_values=[("a", 1.0)]), TypeError, "`initial_values` must be a dict"),
])
def test_bad_layer_options(options, error, match):
    with pytest.raises(error, match=match):
        layer(**options)


@pytest.mark.parametrize("make, error, match", [
    (lambda: PQC(cirq.Circuit(), "Z0"), ValueError, "`circuit` acts on no qubits"),
    (lambda: PQC(CIRCUIT, "Z0", data_symbols=3), TypeError,
     "`data_symbols` must be a symbol, a name, or a sequence of these; got 3"),
    (lambda: PQC(CIRCUIT, "Z0", data_symbols=[X0, X1], weight_symbols=5), TypeError,
     "`weight_symbols` must be a symbol, a name, or a sequence of these; got 5"),
    (lambda: PQC(cirq.Circuit(cirq.rx(1j * A)(Q[0])), "Z0"), ValueError,
     "has the complex exponent .*gate exponents must be real"),
])
def test_bad_circuit_and_symbols(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_call_with_weights_of_wrong_length():
    pqc = layer()
    pqc.build((None, 2))
    with pytest.raises(ValueError, match=r"`weights` must have shape \[2\] or \[batch, 2\].*"
                                         r"got shape \(3,\)"):
        pqc.call_with_weights(np.zeros((1, 2), np.float32), np.zeros(3, np.float32))


def test_circuit_of_wrong_type():
    with pytest.raises(TypeError, match="`circuit` must be a cirq.Circuit"):
        PQC("rx(x0) q0", "Z0")


def data_circuits(*circuits):
    import tensorflow_quantum as tfq
    return tfq.convert_to_tensor(list(circuits))


@pytest.mark.parametrize("make, match", [
    (lambda: data_circuits(cirq.Circuit(cirq.X(cirq.LineQubit(5))), cirq.Circuit()),
     r"`data_circuits` entry 0 acts on \[cirq.LineQubit\(5\)\], which the model circuit does "
     "not have; data circuits must act on the model circuit's qubits"),
    (lambda: np.array(["not a circuit", "x"]), r"`data_circuits` entry 0 \(b'not a circuit'\) "
                                               "is not a serialized cirq.Circuit"),
    (lambda: data_circuits(cirq.Circuit(), cirq.Circuit(), cirq.Circuit()),
     "`data_circuits` has 3 circuits but `features` has 2 rows"),
    (lambda: np.array([["a", "b"]]), r"`data_circuits` must be a string tensor of shape \[batch\]"),
])
def test_bad_data_circuits(make, match):
    with pytest.raises(ValueError, match=match):
        layer()([make(), np.zeros((2, 2), np.float32)])


def test_data_circuits_batch_differing_in_a_graph():
    pqc = layer()
    graph = tf.function(lambda circuits, features: pqc([circuits, features]), input_signature=[
        tf.TensorSpec([None], tf.string), tf.TensorSpec([None, 2], tf.float32)])
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="`data_circuits` and `features` must have the same batch"):
        graph(data_circuits(cirq.Circuit(), cirq.Circuit(), cirq.Circuit()),
              tf.zeros((2, 2), tf.float32))


def test_data_circuits_of_wrong_dtype():
    with pytest.raises(TypeError, match="`data_circuits` must be a string tensor"):
        layer()([np.zeros(2, np.float32), np.zeros((2, 2), np.float32)])


@pytest.mark.parametrize("builder, kwargs, error, match", [
    (circuits.hardware_efficient_ansatz, dict(qubits=2, entangler="iswap"), ValueError,
     "`entangler` must be one of"),
    (circuits.hardware_efficient_ansatz, dict(qubits=2, rotations=("rq",)), ValueError,
     "`rotations` must be one of"),
    (circuits.reuploading_circuit, dict(qubits=2, n_layers=0), ValueError,
     "`n_layers` must be a positive int; got 0"),
    (circuits.angle_encoding, dict(qubits=0), ValueError, "`qubits` must be a positive int"),
    (circuits.angle_encoding, dict(qubits=["q"]), TypeError, "`qubits` must be a non-empty"),
    (circuits.angle_encoding, dict(qubits=2, rotation="h"), ValueError, "`rotation` must be one"),
    (circuits.angle_encoding, dict(qubits=2, n_features=-1), ValueError, "`n_features` must be"),
    (circuits.angle_encoding, dict(qubits=[Q[0], Q[1], Q[0]]), ValueError,
     r"`qubits` lists \[cirq.LineQubit\(0\)\] more than once"),
    (circuits.hardware_efficient_ansatz, dict(qubits=[Q[0], cirq.LineQid(1, dimension=3)]),
     ValueError, r"`qubits` contains cirq.LineQid\(1, dimension=3\) of dimension 3: only qubits"),
    (circuits.angle_encoding, dict(qubits=2, scale_prefix="s t"), ValueError,
     "`scale_prefix` must be None or a symbol name"),
    (circuits.angle_encoding, dict(qubits=2, scale_prefix=3), ValueError,
     "`scale_prefix` must be None or a symbol name"),
    (circuits.hardware_efficient_ansatz, dict(qubits=2, first_block=-1), ValueError,
     "`first_block` must be a non-negative int; got -1"),
    (circuits.hardware_efficient_ansatz, dict(qubits=2, first_block=0.5), ValueError,
     "`first_block` must be a non-negative int"),
])
def test_bad_builder_arguments(builder, kwargs, error, match):
    with pytest.raises(error, match=match):
        builder(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_features=0), "`n_features` must be a positive int"),
    (dict(n_features=2, task="ranking"), "`task` must be one of"),
    (dict(n_features=2, task="classification", n_outputs=1), "`n_outputs` is the number of "
                                                            "classes"),
])
def test_bad_model_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.student(**kwargs)


@pytest.mark.parametrize("observable", ["X0*Y0", "Z0 + Z1*X1", 1j * cirq.Z(Q[0]),
                                        cirq.PauliSum() + (0.5 + 0.5j) * cirq.X(Q[1])])
@pytest.mark.parametrize("engine", ["statevector", "qsim"])
def test_non_hermitian_observables(observable, engine):
    with pytest.raises(ValueError, match="`observables` entry .* expectations need Hermitian"):
        layer(observables=["Z0", observable], engine=engine)
    with pytest.raises(ValueError, match="`observables` entry .* expectations need Hermitian"):
        layer(engine=engine).measurement([observable])


def test_observable_coefficient_overflowing_to_infinity():
    with pytest.raises(ValueError, match="`observables` entry '1e999\\*Z0'.*real finite"):
        layer(observables="1e999*Z0")

"""CircuitWeights: symbol resolution and its errors, initial values on the created variable,
and symbol values of shared and per-example weights."""
import cirq
import keras
import numpy as np
import pytest
import sympy
import tensorflow as tf

from tfq_meta import circuits
from tfq_meta.layers.circuit_weights import CircuitWeights, circuit_symbols, symbol_list

X, Y, A, B, S = sympy.symbols("x y a b s")
Q = cirq.LineQubit.range(2)
CIRCUIT = cirq.Circuit(cirq.ry(B)(Q[1]), cirq.rx(S * X)(Q[0]), cirq.rx(Y)(Q[1]),
                       cirq.rz(A)(Q[0]), cirq.CNOT(*Q))


def test_weights_are_the_other_symbols_in_order_of_first_appearance():
    weights = CircuitWeights(CIRCUIT, ["x", Y])
    assert weights.data_symbols == [X, Y]
    assert weights.weight_symbols == [B, S, A]
    assert weights.symbols == [X, Y, B, S, A]
    assert circuit_symbols(CIRCUIT) == [B, S, X, Y, A]
    np.testing.assert_array_equal(weights.input_scale_mask, [False, True, False])
    explicit = CircuitWeights(CIRCUIT, [X, Y], weight_symbols=["a", "b", "s"])
    assert explicit.weight_symbols == [A, B, S]


def test_a_circuit_spec_supplies_data_symbols_and_initial_values():
    spec = circuits.reuploading_circuit(2, 1, trainable_scaling=True)
    weights = CircuitWeights(spec, initial_values={str(spec.weight_symbols[0]): 0.5})
    assert weights.data_symbols == list(spec.data_symbols)
    assert weights.initial_values == {**spec.initial_values, str(spec.weight_symbols[0]): 0.5}


@pytest.mark.parametrize("arguments, error, match", [
    (dict(data_symbols=["x", "x"]), ValueError, r"`data_symbols` lists \['x'\] more than once"),
    (dict(data_symbols=[1.0]), TypeError, "`data_symbols` entries must be sympy.Symbol or str"),
    (dict(data_symbols=["z"]), ValueError, r"`data_symbols` \['z'\] do not appear"),
    (dict(data_symbols=[X], weight_symbols=[X, Y, A, B, S]), ValueError,
     r"Symbols \['x'\] are listed in both"),
    (dict(data_symbols=[X], weight_symbols=[A, B]), ValueError,
     r"`weight_symbols` misses circuit symbols \['s', 'y'\]"),
    (dict(data_symbols=[X], initial_values={"q": 1.0}), ValueError,
     r"`initial_values` names \['q'\]"),
])
def test_bad_symbols_name_the_argument(arguments, error, match):
    with pytest.raises(error, match=match):
        CircuitWeights(CIRCUIT, **arguments)
    with pytest.raises(TypeError, match="`circuit` must be a cirq.Circuit or a tfq_meta"):
        CircuitWeights("rx(x) q0")


def test_created_variable_takes_the_initial_values():
    weights = CircuitWeights(CIRCUIT, [X, Y], initial_values={"s": 1.5, "a": -0.25},
                             initializer=keras.initializers.Constant(0.1))
    layer = keras.layers.Layer()
    variable = weights.add_to(layer)
    assert variable.path.endswith("circuit_weights") and variable in layer.weights
    np.testing.assert_allclose(variable.numpy(), [0.1, 1.5, -0.25])
    assert symbol_list("x", "data_symbols") == [X]


def test_symbol_values_put_features_next_to_shared_or_per_example_weights():
    features = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    shared = CircuitWeights.symbol_values(features, tf.constant([5.0, 6.0, 7.0]))
    np.testing.assert_array_equal(shared, [[1, 2, 5, 6, 7], [3, 4, 5, 6, 7]])
    per_example = CircuitWeights.symbol_values(features, tf.constant([[5.0], [6.0]], tf.float64))
    assert per_example.dtype == tf.float32
    np.testing.assert_array_equal(per_example, [[1, 2, 5], [3, 4, 6]])
    no_features = CircuitWeights.symbol_values(tf.zeros([3, 0]), tf.constant([1.0]), batch=3)
    np.testing.assert_array_equal(no_features, [[1.0]] * 3)

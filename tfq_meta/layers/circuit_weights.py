"""The trainable weights of a circuit: which symbols they are, and the Keras variable they live in.

A circuit layer splits its circuit's sympy symbols in two: ``data_symbols`` take their values from
the features, column by column; every other symbol is a trainable weight, one entry of a float
vector ``circuit_weights`` ``[n_weights]``. Every evaluation feeds the circuit symbol values
``[batch, n_data + n_weights]``: the features next to the weights (tiled to the batch, or one row
per example when meta-learning gives each example its own task's weights).

:class:`CircuitWeights` resolves the symbols (with errors that name the argument), creates the
weights on a layer and builds the symbol values; the PQC layer and the fidelity kernel share it.
"""
import math
from collections.abc import Mapping

import cirq
import keras
import numpy as np
import sympy
import tensorflow as tf

from tfq_meta.circuits import CircuitSpec


class CircuitWeights:
    """Data and weight symbols of a circuit, the weights' initial values, and their variable.

    Args:
        circuit: a ``cirq.Circuit``, or a :class:`tfq_meta.circuits.CircuitSpec` (which also
            supplies ``data_symbols`` and ``initial_values``).
        data_symbols: symbols (or names) fed by the features, in feature order.
        weight_symbols: optional explicit order of the trainable symbols; by default every other
            symbol of the circuit, in order of first appearance.
        initial_values: dict ``{symbol name: float}`` overriding the initializer for some weights.
        initializer: Keras initializer of the weights; default uniform angles in ``[0, 2π)``.
        regularizer, constraint: Keras regularizer and constraint of the weights.

    Attributes:
        circuit: the ``cirq.Circuit``.
        data_symbols, weight_symbols: lists of ``sympy.Symbol``.
        symbols: ``data_symbols + weight_symbols``, the columns of :meth:`symbol_values`.
        initial_values: dict ``{symbol name: float}``.

    Example:
    >>> x, a = sympy.symbols("x a")
    >>> weights = CircuitWeights(cirq.Circuit(cirq.rx(a * x)(cirq.LineQubit(0))), ["x"])
    >>> weights.weight_symbols, weights.input_scale_mask
    ([a], array([ True]))
    >>> weights.symbol_values(tf.ones([2, 1]), tf.constant([0.5])).numpy()
    array([[1. , 0.5],
           [1. , 0.5]], dtype=float32)
    """

    def __init__(self, circuit, data_symbols=(), weight_symbols=None, initial_values=None,
                 initializer=None, regularizer=None, constraint=None):
        if isinstance(circuit, CircuitSpec):
            data_symbols = data_symbols or circuit.data_symbols
            initial_values = {**circuit.initial_values, **(initial_values or {})}
            circuit = circuit.circuit
        if not isinstance(circuit, cirq.Circuit):
            raise TypeError("`circuit` must be a cirq.Circuit or a tfq_meta CircuitSpec; got "
                            f"{type(circuit).__name__}.")
        self.circuit = circuit
        self.data_symbols = symbol_list(data_symbols, "data_symbols")
        self.weight_symbols = _resolve_weight_symbols(circuit, self.data_symbols, weight_symbols)
        self.initial_values = _check_initial_values(initial_values, self.weight_symbols)
        self.initializer = keras.initializers.get(
            initializer or keras.initializers.RandomUniform(0.0, 2.0 * math.pi))
        self.regularizer = keras.regularizers.get(regularizer)
        self.constraint = keras.constraints.get(constraint)

    @property
    def symbols(self):
        return self.data_symbols + self.weight_symbols

    @property
    def input_scale_mask(self):
        """Which weights scale data: a bool ``[n_weights]``, True for a weight that shares a gate
        with a data symbol (e.g. ``s`` in ``rx(s * x)``)."""
        data = {str(s) for s in self.data_symbols}
        scales = set()
        for op in self.circuit.all_operations():
            names = cirq.parameter_names(op)
            if names & data:
                scales |= names - data
        return np.array([str(s) in scales for s in self.weight_symbols])

    def add_to(self, layer):
        """Creates the ``[n_weights]`` variable ``circuit_weights`` on ``layer``, the initial
        values set; returns it."""
        # Setting the initial values reads the variable as NumPy, which a traced function (a
        # Keras train step that builds the layer on its first call) cannot: create it eagerly.
        with tf.init_scope():
            variable = layer.add_weight(
                name="circuit_weights", shape=(len(self.weight_symbols),),
                initializer=self.initializer, regularizer=self.regularizer,
                constraint=self.constraint)
            if self.initial_values:
                names = [str(s) for s in self.weight_symbols]
                values = keras.ops.convert_to_numpy(variable).copy()
                for name, value in self.initial_values.items():
                    values[names.index(name)] = value
                variable.assign(values)
        return variable

    @staticmethod
    def symbol_values(features, weights, batch=None):
        """``[batch, n_data + n_weights]``: ``features`` next to ``weights``.

        Args:
            features: ``[batch, n_data]``; its dtype is the result's.
            weights: ``[n_weights]`` shared by the batch, or ``[batch, n_weights]``.
            batch: the batch size when ``features`` cannot tell (no data symbols); default
                ``tf.shape(features)[0]``.
        """
        batch = tf.shape(features)[0] if batch is None else batch
        weights = tf.cast(weights, features.dtype)
        if weights.shape.rank == 1:
            # A broadcast product, not tf.tile, whose gradient XLA cannot compile inside a
            # differentiated while loop (the meta-learning inner loop) when the batch is dynamic.
            weights = weights[tf.newaxis] * tf.ones([batch, 1], weights.dtype)
        return tf.concat([features, weights], axis=1)

    def config(self):
        """The symbols and initial values as a layer's ``get_config`` stores them."""
        return dict(data_symbols=[str(s) for s in self.data_symbols],
                    weight_symbols=[str(s) for s in self.weight_symbols],
                    initial_values=dict(self.initial_values))


def symbol_list(symbols, argument):
    """``symbols`` (a symbol, a name, or a list of these) as a list of distinct sympy Symbols."""
    if isinstance(symbols, (str, sympy.Symbol)):
        symbols = [symbols]
    try:
        symbols = list(symbols)
    except TypeError:
        raise TypeError(f"`{argument}` must be a symbol, a name, or a sequence of these; got "
                        f"{symbols!r}.") from None
    result = []
    for symbol in symbols:
        if isinstance(symbol, str):
            symbol = sympy.Symbol(symbol)
        if not isinstance(symbol, sympy.Symbol):
            raise TypeError(f"`{argument}` entries must be sympy.Symbol or str; got {symbol!r}.")
        result.append(symbol)
    duplicates = sorted({str(s) for s in result if result.count(s) > 1})
    if duplicates:
        raise ValueError(f"`{argument}` lists {duplicates} more than once.")
    return result


def circuit_symbols(circuit):
    """The circuit's symbols in order of first appearance."""
    names = {}
    for op in circuit.all_operations():
        names.update(dict.fromkeys(sorted(cirq.parameter_names(op))))
    return [sympy.Symbol(name) for name in names]


def _resolve_weight_symbols(circuit, data_symbols, weight_symbols):
    in_circuit = circuit_symbols(circuit)
    missing = [str(s) for s in data_symbols if s not in in_circuit]
    if missing:
        raise ValueError(f"`data_symbols` {missing} do not appear in the circuit, whose symbols "
                         f"are {[str(s) for s in in_circuit]}.")
    if weight_symbols is None:
        return [s for s in in_circuit if s not in data_symbols]
    weight_symbols = symbol_list(weight_symbols, "weight_symbols")
    absent = [str(s) for s in weight_symbols if s not in in_circuit]
    if absent:
        raise ValueError(f"`weight_symbols` {absent} do not appear in the circuit, whose symbols "
                         f"are {[str(s) for s in in_circuit]}.")
    both = sorted(str(s) for s in set(weight_symbols) & set(data_symbols))
    if both:
        raise ValueError(f"Symbols {both} are listed in both `data_symbols` and "
                         "`weight_symbols`; a symbol is either fed by features or trained.")
    uncovered = [str(s) for s in in_circuit if s not in data_symbols and s not in weight_symbols]
    if uncovered:
        raise ValueError(f"`weight_symbols` misses circuit symbols {uncovered}.")
    return weight_symbols


def _check_initial_values(initial_values, weight_symbols):
    if initial_values is not None and not isinstance(initial_values, Mapping):
        raise TypeError("`initial_values` must be a dict {symbol name: float}; got "
                        f"{type(initial_values).__name__}.")
    initial_values = {str(k): _initial_value(k, v) for k, v in (initial_values or {}).items()}
    unknown = sorted(set(initial_values) - {str(s) for s in weight_symbols})
    if unknown:
        raise ValueError(f"`initial_values` names {unknown}, which are not weight symbols.")
    return initial_values


def _initial_value(symbol, value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"`initial_values` gives symbol {str(symbol)!r} the value {value!r}; "
                        "initial values must be finite numbers.") from None
    if not math.isfinite(number):
        # A non-finite weight makes every output NaN, with nothing to point back here.
        raise ValueError(f"`initial_values` gives symbol {str(symbol)!r} the value {number}; "
                         "initial values must be finite numbers.")
    return number

"""JSON for circuits whose gate exponents are any sympy expression.

Cirq's JSON covers sums and products of symbols but not functions such as ``sin(w) * x``, which
tfq_meta circuits may carry. Each symbolic exponent is therefore stored as a small expression tree
(``{"f": "sin", "args": [...]}``) beside the Cirq JSON of the circuit, whose exponents become
placeholders. Loading rebuilds expressions only from an allow-list of sympy classes: a config
cannot run code.
"""
import json

import cirq
import sympy

from tfq_meta._compat.cirq import with_exponent

_PLACEHOLDER = "_tfq_meta_exponent_{}"
_CONSTANTS = {"pi": sympy.pi, "E": sympy.E}
_FUNCTIONS = {name: getattr(sympy, name) for name in (
    "Add", "Mul", "Pow", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
    "exp", "log", "Abs", "sign",
)}


def circuit_to_json(circuit):
    """Serializes ``circuit`` (any symbolic EigenGate exponents) to a JSON string."""
    expressions = []

    def hide_exponent(op, _):
        if not (isinstance(op.gate, cirq.EigenGate) and cirq.is_parameterized(op.gate.exponent)):
            return op
        expressions.append(_expression_to_tree(sympy.sympify(op.gate.exponent)))
        placeholder = sympy.Symbol(_PLACEHOLDER.format(len(expressions) - 1))
        return with_exponent(op.gate, placeholder).on(*op.qubits)

    hidden = cirq.map_operations(circuit, hide_exponent, deep=True)
    return json.dumps({"circuit": cirq.to_json(hidden), "exponents": expressions})


def circuit_from_json(text):
    """Inverse of :func:`circuit_to_json`."""
    data = json.loads(text)
    exponents = [_tree_to_expression(tree) for tree in data["exponents"]]

    def restore_exponent(op, _):
        if not (isinstance(op.gate, cirq.EigenGate) and cirq.is_parameterized(op.gate.exponent)):
            return op
        name = str(op.gate.exponent)
        index = int(name[len(_PLACEHOLDER.format("")):])
        return with_exponent(op.gate, exponents[index]).on(*op.qubits)

    circuit = cirq.read_json(json_text=data["circuit"])
    return cirq.map_operations(circuit, restore_exponent, deep=True).unfreeze(copy=False)


def _expression_to_tree(expr):
    if isinstance(expr, sympy.Symbol):
        return {"symbol": expr.name}
    if expr in _CONSTANTS.values():
        return {"constant": str(expr)}
    if expr.is_Rational:
        return {"rational": [int(expr.p), int(expr.q)]}
    if expr.is_Float:
        return {"float": repr(float(expr))}
    name = type(expr).__name__
    if name not in _FUNCTIONS:
        raise TypeError(f"Gate exponent {expr} uses {name}, which tfq_meta cannot serialize; "
                        f"supported: {sorted(_FUNCTIONS)}, symbols, numbers, pi and E.")
    return {"f": name, "args": [_expression_to_tree(arg) for arg in expr.args]}


def _tree_to_expression(tree):
    if "symbol" in tree:
        return sympy.Symbol(tree["symbol"])
    if "constant" in tree:
        return _CONSTANTS[tree["constant"]]
    if "rational" in tree:
        return sympy.Rational(*tree["rational"])
    if "float" in tree:
        return sympy.Float(float(tree["float"]))
    if tree.get("f") not in _FUNCTIONS:
        raise ValueError(f"Unknown function {tree.get('f')!r} in a serialized circuit exponent.")
    return _FUNCTIONS[tree["f"]](*(_tree_to_expression(arg) for arg in tree["args"]))

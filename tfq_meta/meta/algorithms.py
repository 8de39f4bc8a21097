"""The meta-learning algorithms: how each runs the two loops, its defaults, and which weights it
adapts."""
import dataclasses

from tfq_meta._compat.keras import flatten_layers
from tfq_meta.layers import PQC


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """How one meta-learning algorithm runs the inner and outer loops, and the defaults of the
    MetaLearner options that depend on it (measured on the default student by
    ``examples/few_shot_sinusoid.py``)."""
    second_order: bool    # differentiate through the inner loop's gradients
    head_only: bool       # adapt only the head's weights in the inner loop
    learned_rates: bool   # per-parameter inner learning rates, meta-learned
    reptile: bool         # outer gradient θ − mean φ instead of the query-loss gradient
    inner_steps: int = 5
    # Learned rates start here. Reptile cannot learn its rates and moves too little at 0.1;
    # Meta-SGD's one step needs rates near 1 for the readout, which it reaches sooner from 0.3
    # (one-step MSE on the sinusoid example 0.354 from 0.1, 0.317 from 0.3, seed 0).
    inner_lr: float = 0.1
    # Meta-SGD's single step must scale with a task's error, which clipping would cap; its
    # learned per-weight rates keep that step stable.
    inner_clipnorm: float | None = 1.0


ALGORITHMS = {
    "maml": Algorithm(second_order=True, head_only=False, learned_rates=False, reptile=False),
    "fomaml": Algorithm(second_order=False, head_only=False, learned_rates=False, reptile=False),
    "reptile": Algorithm(second_order=False, head_only=False, learned_rates=False, reptile=True,
                         inner_lr=0.3),
    "metasgd": Algorithm(second_order=True, head_only=False, learned_rates=True, reptile=False,
                         inner_steps=1, inner_lr=0.3, inner_clipnorm=None),
    "anil": Algorithm(second_order=True, head_only=True, learned_rates=False, reptile=False),
}


def adapted_variables(model, head):
    """The variables the inner loop adapts: those of the ``head`` layers, or every trainable one."""
    variables = (model.trainable_variables if head is None else
                 [v for name in head for v in model.get_layer(name).trainable_variables])
    if not variables:
        raise ValueError("`model` has no trainable weights to adapt.")
    return variables


def check_second_order(model, algorithm, xla=None):
    """Raises if a second-order algorithm meets a circuit whose engine has no second derivatives.

    A layer on qsim whose ``xla_engine`` is statevector (``engine="auto"`` from 14 to 16 qubits)
    has them in a training step XLA compiles. ``xla``: whether it does; None (before
    ``compile``) refuses only the layers that no ``jit_compile`` helps.
    """
    if not ALGORITHMS[algorithm].second_order:
        return
    for layer in flatten_layers(model):
        if not isinstance(layer, PQC) or layer.second_order_blocker is None:
            continue
        helped_by_xla = layer.xla_engine == "statevector"
        if helped_by_xla and xla is not False:
            continue
        fixes = ["algorithm='fomaml' (or 'reptile')", "engine='statevector' for the layer"]
        if helped_by_xla:
            fixes.append("compile with jit_compile='auto' or True, under which the layer runs on "
                         "the statevector engine")
        raise ValueError(
            f"algorithm={algorithm!r} needs second derivatives of layer {layer.name!r}, which "
            "runs on engine='qsim' where they come from the parameter-shift rule; it does not "
            f"hold for {layer.second_order_blocker!r}. Use {', '.join(fixes[:-1])}, or "
            f"{fixes[-1]}.")


def check_head(head):
    """``head`` as a list of layer names (None stays None); raises TypeError for other types."""
    if head is None:
        return None
    if isinstance(head, str):
        return [head]
    if not isinstance(head, (list, tuple)) or not head or \
            not all(isinstance(name, str) for name in head):
        raise TypeError(f"`head` must be a layer name or a non-empty list of layer names; got "
                        f"{head!r}.")
    return list(head)


def head_layers(model, head, algorithm):
    """The names of the layers ANIL adapts (``None`` for the algorithms that adapt every
    weight): ``head``, or by default the last layer with trainable weights."""
    if not ALGORITHMS[algorithm].head_only:
        if head is not None:
            raise ValueError(f"`head` only applies to algorithm='anil'; got algorithm="
                             f"{algorithm!r}.")
        return None
    if head is None:
        weighted = [layer for layer in model.layers if layer.trainable_weights]
        if not weighted:
            raise ValueError("`model` has no trainable layers to adapt.")
        return [weighted[-1].name]
    head = check_head(head)
    names = [layer.name for layer in model.layers]
    unknown = [name for name in head if name not in names]
    if unknown:
        raise ValueError(f"`head` names layers {unknown} that are not in the model; its layers "
                         f"are {names}.")
    return head

"""What distillation losses compare, and one forward pass per model that computes all of it.

A loss declares, for the teacher and for the student, one :class:`Feature`: the model's output,
a layer's output, or chosen observables measured on a PQC layer's circuit. The
:class:`FeatureExtractor` of a model computes every feature the losses ask of it in a single
forward pass: a PQC layer whose circuit is also measured on other observables runs its circuit
once, for its own observables and those together, and the layers after it go on with its own.
"""
import dataclasses

import keras

from tfq_meta.layers import PQC


@dataclasses.dataclass(frozen=True)
class Feature:
    """One tensor a distillation loss compares, computed from a model's inputs.

    Attributes:
        layer_name: the layer whose output (or circuit) is used; None for the model's output.
        observables: ``cirq.PauliSum``s to measure on the PQC layer ``layer_name``'s circuit
            instead of taking its output; empty for an output.
    """
    layer_name: str = None
    observables: tuple = ()

    @property
    def is_model_output(self):
        return self.layer_name is None


def declared_features(loss):
    """``(teacher feature, student feature)`` that ``loss`` compares.

    tfq_meta's losses say so with a ``features()`` method. Keras' own losses name layers in
    ``teacher_layer_name`` and ``student_layer_name`` (None for the output), which is read here.
    """
    if hasattr(loss, "features"):
        return loss.features()
    return (Feature(getattr(loss, "teacher_layer_name", None)),
            Feature(getattr(loss, "student_layer_name", None)))


class FeatureExtractor:
    """Computes a list of features of one model in one forward pass.

    Args:
        model: a ``keras.Model``; Functional or Sequential unless every feature is its output.
        features: the :class:`Feature`s to compute, in the order :meth:`__call__` returns them.
    """

    def __init__(self, model, features):
        self.model = model
        self.features = list(features)
        self._graph = None
        if not all(feature.is_model_output for feature in self.features):
            self._graph = _feature_graph(model, self.features)

    def __call__(self, x, training=False):
        """The features of the batch ``x``, a list in the order given."""
        if self._graph is None:
            return [self.model(x, training=training)] * len(self.features)
        values = self._graph(x, training=training)
        return list(values) if isinstance(values, (list, tuple)) else [values]


def _feature_graph(model, features):
    """A Functional model sharing ``model``'s layers whose outputs are ``features``."""
    if not getattr(model, "inputs", None):
        raise ValueError(
            f"Distilling {_described(features)} needs a Functional or Sequential model (its "
            f"graph shows which layer feeds which); got a subclassed model, "
            f"{type(model).__name__}.")
    observables = {}
    for feature in features:
        if feature.observables:
            observables.setdefault(feature.layer_name, [])
            observables[feature.layer_name] += feature.observables
    outputs = {}

    def call_layer(layer, *args, **kwargs):
        if layer.name in observables:
            own, measured = _CircuitMeasurement(layer, observables[layer.name])(*args, **kwargs)
            outputs[layer.name] = own, measured
            return own
        result = layer(*args, **kwargs)
        outputs[layer.name] = result, None
        return result

    functional = keras.Model(model.input, model.output)
    graph = keras.models.clone_model(functional, clone_function=lambda layer: layer,
                                     call_function=call_layer)
    return keras.Model(graph.input, _select(features, graph.outputs[0], outputs),
                       name=f"{model.name}_features")


def _select(features, model_output, outputs):
    """Each feature's symbolic tensor: the output, a layer's output or a slice of measured."""
    offsets, selected = {}, []
    for feature in features:
        if feature.is_model_output:
            selected.append(model_output)
        elif not feature.observables:
            selected.append(outputs[feature.layer_name][0])
        else:
            start = offsets.get(feature.layer_name, 0)
            end = offsets[feature.layer_name] = start + len(feature.observables)
            selected.append(outputs[feature.layer_name][1][:, start:end])
    return selected


def _described(features):
    names = [f"the observables of layer {f.layer_name!r}" if f.observables else
             f"the output of layer {f.layer_name!r}" for f in features if not f.is_model_output]
    return ", ".join(names)


class _CircuitMeasurement(keras.layers.Layer):
    """A PQC layer run once for its own observables and further ones: ``(own, further)``."""

    def __init__(self, pqc, observables):
        if not isinstance(pqc, PQC):
            raise ValueError(f"Observables can only be measured on a PQC layer; layer "
                             f"{pqc.name!r} is a {type(pqc).__name__}.")
        super().__init__(name=f"{pqc.name}_measured", dtype=pqc.dtype_policy)
        self.pqc = pqc
        self.n_own = len(pqc.observables)
        self.n_further = len(observables)
        self._measure = pqc.measurement(list(pqc.observables) + list(observables))

    def call(self, inputs):
        values = self._measure(inputs)
        return values[:, :self.n_own], values[:, self.n_own:]

    def compute_output_shape(self, input_shape):
        batch = self.pqc.compute_output_shape(input_shape)[0]
        return (batch, self.n_own), (batch, self.n_further)

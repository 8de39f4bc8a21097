"""SavedModel export and serving for every tfq_meta model, with named signatures.

``export(model, path)`` writes a SavedModel for:

* any built Keras model (PQC models, students, teachers, classical models): one signature,
  ``serve(x)``;
* a :class:`tfq_meta.Distiller`: its student alone (the teacher stays behind), ``serve(x)``;
* a :class:`tfq_meta.MetaLearner`: ``serve(x)``, the predictions of the meta-learned
  initialization, and ``adapt_and_predict(support_x, support_y, query_x)``, which runs the inner
  loop inside the graph, so a deployed model adapts to a new task at serving time.

``load(path)`` loads it in any process (registering TensorFlow Quantum's ops first) and checks
inputs against the signatures, with errors that say what each input must be. The SavedModel is
also a plain one: ``tf.saved_model.load(path).serve(x)`` or TF-Serving work too
(``serving_default`` is ``serve``).
"""
import shutil
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfq_meta._validation import check_positive_int
from tfq_meta.distillation import Distiller
from tfq_meta.meta import MetaLearner


def export(model, path, overwrite=False, adaptation_steps=None):
    """Writes ``model`` as a SavedModel with named serving signatures.

    Args:
        model: a built ``keras.Model``, a ``Distiller`` (its student is exported) or a
            ``MetaLearner``.
        path: the SavedModel directory to create.
        overwrite: replace ``path`` if it exists; by default an existing path is an error.
        adaptation_steps: inner steps of a MetaLearner's ``adapt_and_predict`` signature;
            default its ``inner_steps``. Fixed at export: the loop is unrolled in the graph.

    Returns:
        ``path`` as a ``pathlib.Path``.

    Signatures (``[batch, ...]`` is the model's input shape):
        ``serve(x)`` → the model's predictions.
        MetaLearner only: ``adapt_and_predict(support_x [shots, ...], support_y [shots, ...],
        query_x [queries, ...])`` → the predictions on ``query_x`` of the model adapted to the
        one task given by the support set. Labels are int32 ``[shots]`` when the MetaLearner's
        loss is a sparse categorical one, float32 shaped like the model's output otherwise.

    Example:
    >>> import tempfile, numpy as np, tfq_meta
    >>> student = tfq_meta.models.student(n_features=1, n_qubits=2, n_layers=1)
    >>> path = export(student, tempfile.mkdtemp() + "/student")
    >>> served = load(path)
    >>> served.endpoints
    ['serve']
    >>> x = np.linspace(-1, 1, 5, dtype=np.float32)[:, None]
    >>> bool(np.allclose(served.serve(x), student.predict(x, verbose=0), atol=1e-6))
    True
    """
    path = Path(path)
    _check_path(path, overwrite)
    if isinstance(model, Distiller):
        model = model.student
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model, Distiller or MetaLearner; got "
                        f"{type(model).__name__}.")
    network = model.model if isinstance(model, MetaLearner) else model
    _check_built(network)
    archive = keras.export.ExportArchive()
    archive.track(model)
    x_spec = _input_spec(network)
    archive.add_endpoint("serve", lambda x: network(x, training=False), input_signature=[x_spec])
    if isinstance(model, MetaLearner):
        steps = check_positive_int(adaptation_steps, "adaptation_steps", allow_none=True)
        archive.add_endpoint("adapt_and_predict", _adapt_and_predict(model, steps),
                             input_signature=_adaptation_specs(model, x_spec))
    elif adaptation_steps is not None:
        raise ValueError("`adaptation_steps` applies to a MetaLearner only; got a "
                         f"{type(model).__name__}.")
    if path.exists():
        shutil.rmtree(path)
    archive.write_out(str(path), verbose=False)
    return path


def load(path):
    """Loads a SavedModel written by :func:`export`, in this or any fresh process.

    Returns:
        a :class:`ServedModel`: one method per signature, inputs checked.
    """
    path = Path(path)
    if not (path / "saved_model.pb").exists():
        raise FileNotFoundError(f"`path` {str(path)!r} is not a SavedModel directory (no "
                                "saved_model.pb); write one with tfq_meta.export.export.")
    return ServedModel(tf.saved_model.load(str(path)))


class ServedModel:
    """A loaded SavedModel whose signatures check their inputs before running.

    Each endpoint (``serve``, and ``adapt_and_predict`` for a MetaLearner) is a method taking
    NumPy arrays or tensors and returning a NumPy array. Floats of any precision are cast to the
    signature's float dtype and integer labels to its integer dtype; other dtypes and shapes
    that do not fit raise a ValueError naming the input and what it must be.
    """

    def __init__(self, loaded):
        self._loaded = loaded
        self._specs = {}
        for name, function in loaded.signatures.items():
            if name != "serving_default":
                self._specs[name] = _named_specs(getattr(loaded, name))

    @property
    def endpoints(self):
        """The signature names, e.g. ``['serve']`` or ``['adapt_and_predict', 'serve']``."""
        return sorted(self._specs)

    def signature(self, name):
        """``{input name: tf.TensorSpec}`` of one endpoint."""
        return dict(self._specs[name])

    def __getattr__(self, name):
        if name.startswith("_") or name not in self._specs:
            raise AttributeError(f"This SavedModel has no endpoint {name!r}; it has "
                                 f"{self.endpoints}.")
        return lambda *inputs: self._call(name, inputs)

    def _call(self, name, inputs):
        specs = self._specs[name]
        if len(inputs) != len(specs):
            raise TypeError(f"`{name}` takes {len(specs)} inputs ({', '.join(specs)}); got "
                            f"{len(inputs)}.")
        tensors = [_checked(value, argument, spec, name)
                   for value, (argument, spec) in zip(inputs, specs.items())]
        return getattr(self._loaded, name)(*tensors).numpy()


# ------------------------------------------------------------------------------------- helpers

def _check_path(path, overwrite):
    if not isinstance(overwrite, bool):
        raise ValueError(f"`overwrite` must be True or False; got {overwrite!r}.")
    if path.exists() and not overwrite:
        raise FileExistsError(f"`path` {str(path)!r} already exists; pass overwrite=True to "
                              "replace it, or choose another path.")


def _check_built(model):
    if not model.built or not getattr(model, "inputs", None):
        raise ValueError(f"`model` ({model.name}) is not built, so its input shape is unknown: "
                         "build it (call it on a batch, or give it a keras.Input) before "
                         "exporting.")
    if len(model.inputs) != 1:
        raise ValueError(f"`model` has {len(model.inputs)} inputs; export takes models with "
                         "one input. Use keras.export.ExportArchive for several.")


def _input_spec(model):
    tensor = model.inputs[0]
    return tf.TensorSpec((None, *tensor.shape[1:]), tensor.dtype, name="x")


def _adaptation_specs(meta, x_spec):
    output_shape = tuple(meta.model.outputs[0].shape[1:])
    if _sparse_labels(meta):
        label_spec = tf.TensorSpec((None,), tf.int32, name="support_y")
    else:
        label_spec = tf.TensorSpec((None, *output_shape), tf.float32, name="support_y")
    return [tf.TensorSpec(x_spec.shape, x_spec.dtype, name="support_x"), label_spec,
            tf.TensorSpec(x_spec.shape, x_spec.dtype, name="query_x")]


def _sparse_labels(meta):
    loss = meta.get_compile_config().get("loss")
    name = str(loss.get("class_name", loss) if isinstance(loss, dict) else loss)
    return "sparse" in name.lower()


def _adapt_and_predict(meta, steps):
    """One task's inner loop and query predictions; the tasks axis added and removed here."""
    def adapt_and_predict(support_x, support_y, query_x):
        predictions = meta.adapt_and_predict(support_x[tf.newaxis], support_y[tf.newaxis],
                                             query_x[tf.newaxis], steps=steps)
        return predictions[0]
    return adapt_and_predict


def _named_specs(function):
    """``{input name: TensorSpec}`` of a loaded endpoint, in argument order."""
    concrete = function.concrete_functions[0] if hasattr(function, "concrete_functions") else \
        function
    args, _ = concrete.structured_input_signature
    return {spec.name: spec for spec in args}


def _checked(value, argument, spec, endpoint):
    """``value`` as a tensor of ``spec``'s dtype, or a ValueError saying what it must be."""
    array = np.asarray(value)
    kind = "floats" if spec.dtype.is_floating else "integers"
    shape = "[" + ", ".join("n" if d is None else str(d) for d in spec.shape) + "]"
    compatible = np.issubdtype(array.dtype, np.floating if spec.dtype.is_floating else np.integer)
    fits = array.ndim == len(spec.shape) and all(
        d is None or d == n for d, n in zip(spec.shape, array.shape))
    if not compatible or not fits:
        raise ValueError(f"`{endpoint}` input `{argument}` must be {kind} of shape {shape} (sent "
                         f"as {spec.dtype.name}); got {array.dtype} of shape "
                         f"{list(array.shape)}.")
    return tf.constant(array.astype(spec.dtype.as_numpy_dtype, copy=False))

"""SavedModel export and serving for every tfq_meta model, with named signatures.

``meta.export(filepath)``, ``distiller.export(filepath)`` (Keras' ``Model.export`` convention) and
``export(model, filepath)`` write a SavedModel for:

* any built Keras model (PQC models, students, teachers, classical models): one signature,
  ``serve(x)``;
* a :class:`tfq_meta.Distiller`: its student alone (the teacher stays behind), ``serve(x)``;
* a :class:`tfq_meta.MetaLearner`: ``serve(x)``, the predictions of the meta-learned
  initialization, and ``adapt_and_predict(support_x, support_y, query_x)``, which runs the inner
  loop inside the graph, so a deployed model adapts to a new task at serving time.

Writes are atomic: the SavedModel is written next to ``filepath`` and renamed into place, so a
failed export leaves an earlier one at ``filepath`` as it was. ``overwrite=True`` replaces only a
SavedModel or an empty directory; export never deletes anything else.

``load(path)`` loads it in any process (registering TensorFlow Quantum's ops first) and checks
inputs against the signatures, with errors that say what each input must be. The SavedModel is
also a plain one: ``loaded = tf.saved_model.load(path)`` then ``loaded.serve(x)`` (keep
``loaded`` alive while calling it: its functions need the variables it holds), or TF-Serving
(``serving_default`` is ``serve``).

A model on the statevector engine exports TensorFlow's own ops only, so stock TensorFlow serves
it without tfq_meta or TensorFlow Quantum. One on qsim runs TFQ's ops (:func:`tfq_ops` lists
them); its export holds ``assets.extra/tfq_meta_requirements.txt`` saying what loading it needs.
"""
import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfq_meta import _tfq
from tfq_meta._compat.keras import flatten_layers
from tfq_meta._compat.tensorflow import saved_model_op_types
from tfq_meta._validation import check_positive_int
from tfq_meta.distillation import Distiller
from tfq_meta.meta import MetaLearner
from tfq_meta.meta.task_losses import task_label_spec
from tfq_meta.saving import as_path, prepare_directory, write_atomically

# What tf.saved_model.save writes (keras_metadata.pb and assets.extra come from other writers):
# a directory holding anything else is not a SavedModel that overwrite may replace.
SAVED_MODEL_ENTRIES = frozenset({"saved_model.pb", "saved_model.pbtxt", "variables", "assets",
                                 "assets.extra", "fingerprint.pb", "keras_metadata.pb"})
# Written into a SavedModel whose graph runs TensorFlow Quantum's ops (a qsim-engine model): a
# process without them cannot load it, and TensorFlow's error does not say where they come from.
REQUIREMENTS_NOTE = Path("assets.extra", "tfq_meta_requirements.txt")


def export(model, filepath, overwrite=False, adaptation_steps=None, format="tf_saved_model",
           verbose=False, input_signature=None):
    """Writes ``model`` as a SavedModel with named serving signatures.

    ``MetaLearner.export`` and ``Distiller.export`` call this; it also takes any other Keras model.

    Args:
        model: a built ``keras.Model``, a ``Distiller`` (its student is exported) or a
            ``MetaLearner``.
        filepath: the SavedModel directory to create (``str`` or ``pathlib.Path``).
        overwrite: replace an existing SavedModel (or empty directory) at ``filepath``. Without
            it any existing ``filepath`` is a FileExistsError; with it, a file or a directory
            holding anything but a SavedModel is a ValueError: export deletes nothing else.
        adaptation_steps: inner steps of a MetaLearner's ``adapt_and_predict`` signature;
            default its ``inner_steps``. Fixed at export: the loop is unrolled in the graph.
        format: ``"tf_saved_model"``, the one format with named signatures.
        verbose: True or False (0 or 1): print the endpoints once written.
        input_signature: the ``serve`` input as one ``tf.TensorSpec`` or ``keras.InputSpec``
            (or a list of one), e.g. to fix the batch size; default the model's input with any
            batch size. A MetaLearner's ``support_x`` and ``query_x`` take its features.

    Returns:
        ``filepath`` as a ``pathlib.Path``.

    Signatures (``[batch, ...]`` is the model's input shape):
        ``serve(x)`` → the model's predictions.
        MetaLearner only: ``adapt_and_predict(support_x [shots, ...], support_y [shots, ...],
        query_x [queries, ...])`` → the predictions on ``query_x`` of the model adapted to the
        one task given by the support set. Labels are int32 ``[shots]`` when the MetaLearner's
        loss takes class indices (sparse categorical), float32 shaped like the model's output
        otherwise.

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
    _check_format(format, model)
    path = as_path(filepath, "filepath")
    _check_target(path, overwrite)
    _check_verbose(verbose)
    model = _exported_model(model)
    _check_no_backend(model)
    endpoints = _endpoints(model, input_signature, adaptation_steps)
    prepare_directory(path, "filepath")
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (function, specs) in endpoints.items():
        archive.add_endpoint(name, function, input_signature=specs)
    # Checked again before the rename: files may have appeared at ``path`` during the write.
    write_atomically(lambda staging: _write(archive, staging), path, directory=True,
                     recheck=lambda: _check_target(path, overwrite))
    if verbose:
        print(f"Saved artifact at '{path}'. The following endpoints are available:\n\n" +
              "\n".join(_describe(name, specs) for name, (_, specs) in endpoints.items()))
        if (path / REQUIREMENTS_NOTE).exists():  # written by _write for models on qsim
            print("\n" + (path / REQUIREMENTS_NOTE).read_text())
    return path


def tfq_ops(path):
    """The TensorFlow Quantum ops a SavedModel at ``path`` runs, sorted; empty when it needs
    none, so that stock TensorFlow (``tf.saved_model.load``, TF-Serving, ``saved_model_cli``)
    loads and serves it without tfq_meta or TensorFlow Quantum installed."""
    path = _saved_model_directory(path)
    try:
        types = saved_model_op_types(path)
    except Exception as error:  # google.protobuf's DecodeError, whose module TF does not expose
        raise ValueError(f"`path` {str(path)!r} holds a saved_model.pb that does not parse "
                         f"({type(error).__name__}: {error}): it is damaged or not a "
                         "SavedModel.") from None
    return sorted(op for op in types if op.startswith("Tfq"))


def _saved_model_directory(path):
    path = as_path(path, "path")
    if not (path / "saved_model.pb").is_file():
        raise FileNotFoundError(f"`path` {str(path)!r} is not a SavedModel directory (no "
                                "saved_model.pb); write one with tfq_meta.export.export.")
    return path


def _write(archive, directory):
    archive.write_out(directory, verbose=False)
    ops = tfq_ops(directory)
    if ops:
        note = Path(directory, REQUIREMENTS_NOTE)
        note.parent.mkdir(exist_ok=True)
        note.write_text(
            f"This SavedModel runs TensorFlow Quantum ops ({', '.join(ops)}): the qsim engine. "
            "Load it where tfq_meta is installed, after `import tfq_meta` (or with "
            "`tfq_meta.export.load`), which registers them; TF-Serving needs a build with "
            "them. Models on the statevector engine need no such ops.\n")


def load(path):
    """Loads a SavedModel written by :func:`export`, in this or any fresh process.

    A model that ran on the qsim engine holds TensorFlow Quantum's ops, so it loads only where
    TFQ is installed; elsewhere this raises :class:`tfq_meta._tfq.TensorFlowQuantumMissing`.

    Returns:
        a :class:`ServedModel`: one method per signature, inputs checked.
    """
    path = _saved_model_directory(path)
    if tfq_ops(path):
        _tfq.require(f"Loading the SavedModel {str(path)!r}, whose graph holds TensorFlow "
                     "Quantum's ops (it was exported from a model on engine='qsim'),")
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

def _check_format(format, model):
    if format != "tf_saved_model":
        keras_model = ("meta.model" if isinstance(model, MetaLearner) else
                       "distiller.student" if isinstance(model, Distiller) else "model")
        raise ValueError(f"`format` must be 'tf_saved_model', the format with named signatures; "
                         f"got {format!r}. For another format export the Keras model itself: "
                         f"`{keras_model}.export(filepath, format={format!r})`.")


def _check_verbose(verbose):
    # 0 and 1 too, as Keras' fit takes them.
    if not (isinstance(verbose, (bool, np.bool_)) or type(verbose) is int and verbose in (0, 1)):
        raise ValueError(f"`verbose` must be True or False; got {verbose!r}.")


def _check_target(path, overwrite):
    """Raises unless writing ``path`` loses nothing but, with ``overwrite``, an old SavedModel."""
    if not isinstance(overwrite, bool):
        raise ValueError(f"`overwrite` must be True or False; got {overwrite!r}.")
    if not os.path.lexists(path):
        return
    refusal = _replace_refusal(path)
    if not overwrite:
        hint = ("pass overwrite=True to replace it, or choose another filepath" if refusal is None
                else f"it {refusal}, so choose another filepath (overwrite=True replaces only a "
                "SavedModel or an empty directory)")
        raise FileExistsError(f"`filepath` {str(path)!r} already exists; {hint}.")
    if refusal is not None:
        raise ValueError(f"`filepath` {str(path)!r} {refusal}; overwrite=True replaces only a "
                         "SavedModel or an empty directory, and export deletes nothing else. "
                         "Choose another filepath.")


def _replace_refusal(path):
    """Why ``path`` may not be replaced, or None for a SavedModel or an empty directory."""
    if path.is_symlink() or not path.is_dir():
        return "is a file or a link, not a directory"
    foreign = sorted(entry.name for entry in path.iterdir()
                     if entry.name not in SAVED_MODEL_ENTRIES)
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        return f"holds files that are not part of a SavedModel ({shown})"
    if any(path.iterdir()) and not (path / "saved_model.pb").exists():
        return "is not a SavedModel (no saved_model.pb)"
    return None


def _exported_model(model):
    """What the SavedModel holds: a Distiller's student (no teacher), else ``model`` itself."""
    if isinstance(model, Distiller):
        return model.student
    if not isinstance(model, keras.Model):
        origin = type(model).__module__.split(".")[0]
        hint = (f" from {origin}: export takes Keras 3 models (the `keras` package), which "
                "tfq_meta's layers and models are" if origin in ("tf_keras", "tensorflow")
                else "")
        raise TypeError(f"`model` must be a keras.Model, Distiller or MetaLearner; got "
                        f"{type(model).__name__}{hint}.")
    return model


def _check_no_backend(model):
    for layer in flatten_layers(model):
        backend = getattr(getattr(layer, "compiled_circuit", None), "backend", None)
        if backend is not None:
            # The backend runs in a tf.py_function, whose Python a SavedModel cannot hold: the
            # export would write, then fail on every call after loading.
            raise ValueError(
                f"Layer {layer.name!r} runs on the Cirq backend {type(backend).__name__}, "
                "which a SavedModel cannot hold. Export a copy built with engine='qsim' or "
                "'statevector' and the same weights.")


def _endpoints(model, input_signature, adaptation_steps):
    """``{name: (function, input specs)}`` of the signatures ``model`` is exported with."""
    network = model.model if isinstance(model, MetaLearner) else model
    _check_built(network)
    x_spec = _input_spec(network, input_signature)
    endpoints = {"serve": (lambda x: network(x, training=False), [x_spec])}
    if isinstance(model, MetaLearner):
        steps = check_positive_int(adaptation_steps, "adaptation_steps", allow_none=True)
        endpoints["adapt_and_predict"] = (_adapt_and_predict(model, steps),
                                          _adaptation_specs(model, x_spec))
    elif adaptation_steps is not None:
        raise ValueError("`adaptation_steps` applies to a MetaLearner only; got a "
                         f"{type(model).__name__}.")
    return endpoints


def _check_built(model):
    if not model.built or not getattr(model, "inputs", None):
        raise ValueError(f"`model` ({model.name}) is not built, so its input shape is unknown: "
                         "build it (call it on a batch, or give it a keras.Input) before "
                         "exporting.")
    if len(model.inputs) != 1:
        raise ValueError(f"`model` has {len(model.inputs)} inputs; export takes models with "
                         "one input. Use keras.export.ExportArchive for several.")


def _input_spec(model, input_signature):
    tensor = model.inputs[0]
    if input_signature is None:
        return tf.TensorSpec((None, *tensor.shape[1:]), tensor.dtype, name="x")
    specs = list(input_signature) if isinstance(input_signature, (list, tuple)) else \
        [input_signature]
    shape = getattr(specs[0], "shape", None) if len(specs) == 1 else None
    if not _fits(shape, tensor.shape):
        raise ValueError("`input_signature` must be one tf.TensorSpec or keras.InputSpec (or a "
                         f"list of one) of shape (batch, {', '.join(map(str, tensor.shape[1:]))})"
                         f", the model's input; got {input_signature!r}.")
    dtype = tf.as_dtype(getattr(specs[0], "dtype", None) or tensor.dtype)
    model_dtype = tf.as_dtype(tensor.dtype)
    numeric = dtype.is_floating or dtype.is_integer
    if (dtype != tf.string) if model_dtype == tf.string else not numeric:
        accepted = "tf.string, like the model's input" if model_dtype == tf.string else \
            "a float or int dtype (features)"
        raise ValueError(f"`input_signature` dtype must be {accepted}; got {dtype.name}.")
    return tf.TensorSpec(tuple(shape), dtype, name="x")


def _fits(shape, model_shape):
    """Whether ``shape`` can feed a model input of ``model_shape`` (None matches any size)."""
    return shape is not None and len(shape) == len(model_shape) and all(
        d is None or n is None or d == n for d, n in zip(shape[1:], model_shape[1:]))


def _adaptation_specs(meta, x_spec):
    compile_config = meta.get_compile_config()
    if "loss" not in compile_config:
        raise RuntimeError("Call `compile(optimizer, loss)` on the MetaLearner before exporting "
                           "it: the inner loop of `adapt_and_predict` descends its loss.")
    features = (None, *x_spec.shape[1:])
    output_shape = tuple(meta.model.outputs[0].shape[1:])
    return [tf.TensorSpec(features, x_spec.dtype, name="support_x"),
            task_label_spec(compile_config["loss"], output_shape, "support_y"),
            tf.TensorSpec(features, x_spec.dtype, name="query_x")]


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
    shape = _shape(spec)
    compatible = np.issubdtype(array.dtype, np.floating if spec.dtype.is_floating else np.integer)
    fits = array.ndim == len(spec.shape) and all(
        d is None or d == n for d, n in zip(spec.shape, array.shape))
    if not compatible or not fits:
        raise ValueError(f"`{endpoint}` input `{argument}` must be {kind} of shape {shape} (sent "
                         f"as {spec.dtype.name}); got {array.dtype} of shape "
                         f"{list(array.shape)}.")
    return tf.constant(array.astype(spec.dtype.as_numpy_dtype, copy=False))


def _describe(name, specs):
    """``serve(x: float32[n, 1])``: one endpoint as the verbose message lists it."""
    arguments = ", ".join(f"{spec.name}: {spec.dtype.name}{_shape(spec)}" for spec in specs)
    return f"* {name}({arguments})"


def _shape(spec):
    return "[" + ", ".join("n" if d is None else str(d) for d in spec.shape) + "]"

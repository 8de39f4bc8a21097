"""Plumbing shared by the hypermodels: search spaces, failed trials and wrapped models."""
import contextlib

import keras
import keras_tuner
import numpy as np
from keras_tuner.engine import hyperparameters as hp_types

_HYPERPARAMETER_TYPES = (hp_types.Boolean, hp_types.Choice, hp_types.Fixed, hp_types.Float,
                         hp_types.Int)


def search_space(*arguments):
    """A hypermodel's search space: its tuned arguments as keras-tuner hyperparameters.

    An argument is one of:

    - ``None``: the hypermodel's default hyperparameter for it;
    - a value (``4``, ``"cnot"``, ``0.01``): declared with ``HyperParameters.Fixed``;
    - a list or tuple of values: a ``Choice`` among them (``Boolean`` for True and False), the
      first being the default, built when the tuner is created;
    - a keras-tuner hyperparameter (``Int``, ``Float``, ``Choice``, ``Boolean`` or ``Fixed``)
      for ranges, steps and log sampling; it is renamed to the argument's name.

    Every choice, fixed value and range bound is checked here, when the hypermodel is created.

    Args:
        *arguments: ``(value, default, check)`` for each tuned argument: the user's argument as
            above; the default hyperparameter, named as the argument; and ``check(value,
            name)``, raising ValueError for a value that is never valid.

    Returns:
        A ``keras_tuner.HyperParameters`` with one entry per argument, in order (a seeded
        RandomSearch draws the values in this order), for :func:`declare`.

    Example:
    >>> from tfq_meta._validation import check_positive_int
    >>> space = search_space(
    ...     (None, hp_types.Int("n_qubits", 2, 6, default=4), check_positive_int),
    ...     ([1, 2], hp_types.Int("n_layers", 1, 4), check_positive_int))
    >>> [(h.name, type(h).__name__) for h in space.space], space.values
    ([('n_qubits', 'Int'), ('n_layers', 'Choice')], {'n_qubits': 4, 'n_layers': 1})
    """
    space = keras_tuner.HyperParameters()
    for value, default, check in arguments:
        if value is None:
            _declare_one(space, default)
        else:
            _declare_argument(space, default.name, value, check)
    return space


def declare(hp, space, names=None):
    """Declares the entries of ``space`` in ``hp`` and returns ``{name: value in this trial}``.

    Through the ``HyperParameters`` methods (``hp.Int(…)`` …), not ``hp.merge``: they honour
    the name and conditional scopes the caller may have opened, and return the value of an entry
    declared before, by the oracle or by the tuner's ``hyperparameters=``.

    Args:
        hp: the trial's ``keras_tuner.HyperParameters``.
        space: a ``keras_tuner.HyperParameters``, e.g. a :func:`search_space`.
        names: the names of the entries to declare; default all.

    Example:
    >>> space = keras_tuner.HyperParameters()
    >>> space.Int("n_qubits", 2, 6), space.Int("n_layers", 1, 4)
    (2, 1)
    >>> hp = keras_tuner.HyperParameters()
    >>> hp.Fixed("n_layers", 3)    # as the tuner's hyperparameters= would
    3
    >>> declare(hp, space)
    {'n_qubits': 2, 'n_layers': 3}
    """
    return {hyperparameter.name: _declare_one(hp, hyperparameter)
            for hyperparameter in space.space if names is None or hyperparameter.name in names}


def _declare_one(hp, hyperparameter, name=None):
    config = {**hyperparameter.get_config(), "name": name or hyperparameter.name}
    config.pop("conditions")
    return getattr(hp, type(hyperparameter).__name__)(**config)


def tuned_names(names, space):
    """Those of ``names`` that take more than one value in ``space``, in order.

    Give the oracle's space (``tuner.oracle.get_space()``), not the hypermodel's: the tuner's
    ``hyperparameters=`` may fix an entry, and with ``tune_new_entries=False`` the entries it
    does not hold keep their defaults.
    """
    # Without the name scopes a caller may have opened around the hypermodel's build.
    tuned = {h.name.rpartition("/")[2] for h in space.space if len(set(h.values)) > 1}
    return [name for name in names if name in tuned]


def _declare_argument(space, name, value, check):
    if isinstance(value, hp_types.HyperParameter):
        _check_hyperparameter(value, name)
        for bound in _bounds(value):
            check(bound, name)
        _declare_one(space, value, name)
    elif isinstance(value, (list, tuple)):
        values = [_plain(v, name) for v in value]
        for v in values:
            check(v, name)  # first: the Choice's own type errors do not name the argument
        _declare_choice(space, name, values)
    else:
        value = _plain(value, name)
        check(value, name)
        space.Fixed(name, value)


def _check_hyperparameter(hyperparameter, name):
    if not isinstance(hyperparameter, _HYPERPARAMETER_TYPES):
        raise TypeError(f"`{name}` must be a keras_tuner Int, Float, Choice, Boolean or Fixed "
                        f"hyperparameter; got {type(hyperparameter).__name__}.")
    if hyperparameter.conditions:
        raise ValueError(f"`{name}` must be an unconditional hyperparameter; open a "
                         "conditional scope around the hypermodel's build instead.")
    step = getattr(hyperparameter, "step", None)
    if step is not None and not step > 0:
        # keras-tuner divides the range by the step when it samples: a zero step fails the
        # search at its first trial, a negative one never draws past the minimum.
        raise ValueError(f"`{name}` must have a positive `step` (or None for a Float); got "
                         f"step={step!r}.")


def _declare_choice(space, name, values):
    if not values:
        raise ValueError(f"`{name}` is an empty list of choices: give at least one value.")
    if all(isinstance(v, bool) for v in values):
        # keras-tuner's Choice stores bools as the ints 0 and 1; Boolean keeps them bools.
        if len(set(values)) == 1:
            space.Fixed(name, values[0])
        else:
            space.Boolean(name, default=values[0])
        return
    if any(isinstance(v, float) for v in values) and \
            all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        values = [float(v) for v in values]  # [1, 0.1] is a choice of floats
    try:
        space.Choice(name, values)
    except (TypeError, ValueError) as error:
        raise ValueError(f"`{name}`: {error}") from None


def _plain(value, name):
    """A Python int, float, str or bool, the types keras-tuner records in trial files."""
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, (bool, int, float, str)):
        raise TypeError(f"`{name}` must be a value, a list of values or a keras_tuner "
                        f"hyperparameter; got {value!r} of type {type(value).__name__}.")
    return value


def _bounds(hyperparameter):
    """The values checked in advance: those of a Choice or Fixed, or the ends of a range."""
    if isinstance(hyperparameter, (hp_types.Int, hp_types.Float)):
        return [hyperparameter.min_value, hyperparameter.max_value]
    if isinstance(hyperparameter, (hp_types.Choice, hp_types.Fixed)):
        return list(hyperparameter.values)
    return []


@contextlib.contextmanager
def failed_trial_on_invalid_model(hp):
    """Turns a model that these hyperparameter values cannot build into a failed trial.

    A ValueError or TypeError raised while building (an unknown entangler registered in the
    oracle's space, a circuit too large for memory …) is deterministic: retrying the trial
    would fail again. Raising ``keras_tuner.errors.FailedTrialError`` marks the trial FAILED at
    once, with this message in ``trial.message``, and the search moves on to the next trial.
    """
    try:
        yield
    except keras_tuner.errors.FatalError:
        raise
    except (ValueError, TypeError) as error:
        raise keras_tuner.errors.FailedTrialError(
            f"The hyperparameters {hp.values} do not give a valid model: {error}") from error


def build_function(hypermodel, argument):
    """The ``build(hp)`` of a keras-tuner HyperModel or of a model-building function."""
    if isinstance(hypermodel, keras_tuner.HyperModel):
        return hypermodel.build
    if callable(hypermodel) and not isinstance(hypermodel, keras.Model):
        return hypermodel
    raise TypeError(f"`{argument}` must be a keras_tuner.HyperModel (e.g. StudentHyperModel) or a "
                    f"function hp -> compiled keras.Model; got {type(hypermodel).__name__}.")


def build_wrapped_model(build, hp, argument):
    """Builds the model that a MetaLearner or Distiller of this trial wraps.

    Args:
        build: the :func:`build_function` of the hypermodel argument.
        hp: the trial's hyperparameters.
        argument: the hypermodel argument's name, named in the errors.

    Returns:
        The compiled model and fresh copies of its compile arguments, to compile the wrapper.
    """
    model = build(hp)
    if not isinstance(model, keras.Model):
        raise keras_tuner.errors.FatalTypeError(
            f"`{argument}` must build a keras.Model; it returned {type(model).__name__}.")
    if not model.compiled:
        raise keras_tuner.errors.FatalValueError(
            f"`{argument}` must return a compiled model: its optimizer (with the tuned learning "
            "rate), loss and metrics train the wrapper model.")
    config = model.get_compile_config()
    return model, {key: keras.saving.deserialize_keras_object(value)
                   for key, value in config.items() if value is not None}


def check_bool(value, name):
    """Raises ValueError unless ``value`` is True or False."""
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False; got {value!r}.")
    return value

"""Search-space plumbing shared by the hypermodels: dimensions, failed trials, compile arguments."""
import contextlib

import keras
import keras_tuner
import numpy as np
from keras_tuner.engine import hyperparameters as hp_types

_HYPERPARAMETER_TYPES = (hp_types.Boolean, hp_types.Choice, hp_types.Fixed, hp_types.Float,
                         hp_types.Int)


class Dimension:
    """One tunable argument of a hypermodel and the hyperparameter it declares in each trial.

    The argument is one of:

    - ``None``: the hypermodel's default search space for it;
    - a value (``4``, ``"cnot"``, ``0.01``): fixed, recorded in the trial as a
      ``keras_tuner`` ``Fixed`` hyperparameter;
    - a list or tuple of values: a ``Choice`` among them (the first is the default, built when
      the tuner is created);
    - a ``keras_tuner`` hyperparameter (``keras_tuner.engine.hyperparameters.Int``, ``Float``,
      ``Choice``, ``Boolean`` or ``Fixed``) for ranges, steps and log sampling; it is renamed to
      the argument's name.

    Args:
        name: the argument's name, also the hyperparameter's name in ``trial.hyperparameters``.
        value: the user's argument, as above.
        default: the hyperparameter used when ``value`` is None.
        check: ``check(value, name)``, raising ValueError for a value that is never valid. Every
            choice, fixed value and range bound is checked when the hypermodel is created.
    """

    def __init__(self, name, value, default, check):
        self.name = name
        self.hyperparameter = _as_hyperparameter(name, default if value is None else value, check)
        for bound in _bounds(self.hyperparameter):
            check(bound, name)

    def __call__(self, hp):
        """Declares the dimension in ``hp`` and returns its value in this trial."""
        config = self.hyperparameter.get_config()
        config.pop("conditions")
        # The HyperParameters methods (not the bare classes) honour name scopes and conditional
        # scopes the caller may have opened, and return a value the oracle registered in advance.
        return getattr(hp, type(self.hyperparameter).__name__)(**config)

    @property
    def is_fixed(self):
        """Whether every trial gets the same value."""
        return isinstance(self.hyperparameter, hp_types.Fixed) or (
            isinstance(self.hyperparameter, hp_types.Choice)
            and len(self.hyperparameter.values) == 1)


def _as_hyperparameter(name, value, check):
    if isinstance(value, hp_types.HyperParameter):
        if not isinstance(value, _HYPERPARAMETER_TYPES):
            raise TypeError(f"`{name}` must be a keras_tuner Int, Float, Choice, Boolean or Fixed "
                            f"hyperparameter; got {type(value).__name__}.")
        if value.conditions:
            raise ValueError(f"`{name}` must be an unconditional hyperparameter; open a "
                             "conditional scope around the hypermodel's build instead.")
        return type(value).from_config({**value.get_config(), "name": name})
    if isinstance(value, (list, tuple)):
        values = [_plain(v, name) for v in value]
        for v in values:
            check(v, name)  # first: the Choice's own type errors do not name the argument
        return _choice(name, values)
    return hp_types.Fixed(name, _plain(value, name))


def _choice(name, values):
    if not values:
        raise ValueError(f"`{name}` is an empty list of choices: give at least one value.")
    if all(isinstance(v, bool) for v in values):
        # keras-tuner's Choice stores bools as the ints 0 and 1; Boolean keeps them bools.
        if len(set(values)) == 1:
            return hp_types.Fixed(name, values[0])
        return hp_types.Boolean(name, default=values[0])
    if any(isinstance(v, float) for v in values) and \
            all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        values = [float(v) for v in values]  # [1, 0.1] is a choice of floats
    try:
        return hp_types.Choice(name, values)
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
    """Every value a hyperparameter can take that can be checked in advance."""
    if isinstance(hyperparameter, hp_types.Choice):
        return list(hyperparameter.values)
    if isinstance(hyperparameter, hp_types.Fixed):
        return [hyperparameter.value]
    if isinstance(hyperparameter, (hp_types.Int, hp_types.Float)):
        return [hyperparameter.min_value, hyperparameter.max_value]
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


def compile_arguments(model, argument):
    """Fresh copies of the arguments ``model`` was compiled with, to compile a wrapper model.

    Args:
        model: a compiled ``keras.Model``.
        argument: the hypermodel argument that built ``model``, named in the error.
    """
    if not isinstance(model, keras.Model):
        raise keras_tuner.errors.FatalTypeError(
            f"`{argument}` must build a keras.Model; it returned {type(model).__name__}.")
    if not model.compiled:
        raise keras_tuner.errors.FatalValueError(
            f"`{argument}` must return a compiled model: its optimizer (with the tuned learning "
            "rate), loss and metrics train the wrapper model.")
    config = model.get_compile_config()
    return {key: keras.saving.deserialize_keras_object(value) for key, value in config.items()
            if value is not None}


def build_function(hypermodel, argument):
    """The ``build(hp)`` of a keras-tuner HyperModel or of a model-building function."""
    if isinstance(hypermodel, keras_tuner.HyperModel):
        return hypermodel.build
    if callable(hypermodel) and not isinstance(hypermodel, keras.Model):
        return hypermodel
    raise TypeError(f"`{argument}` must be a keras_tuner.HyperModel (e.g. StudentHyperModel) or a "
                    f"function hp -> compiled keras.Model; got {type(hypermodel).__name__}.")


def check_bool(value, name):
    """Raises ValueError unless ``value`` is True or False."""
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False; got {value!r}.")
    return value

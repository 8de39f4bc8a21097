"""The episode format, its checks, and fitting on episode datasets."""
import inspect

import keras
import tensorflow as tf

EPISODE_KEYS = ("support_x", "support_y", "query_x", "query_y")


def check_episode(episode, argument="episodes"):
    """Raises ValueError unless ``episode`` is a well-formed meta-batch of tasks.

    Checks the keys, that all four entries agree on the number of tasks, that each ``x`` agrees with
    its ``y`` on the number of shots, that no set is empty, and that support and query examples have
    the same feature shape. Works on arrays and on tensors with (partly) unknown static shapes;
    unknown dimensions are not checked.

    Args:
        episode: dict with ``support_x``, ``support_y``, ``query_x``, ``query_y``.
        argument: the name used in error messages.

    Returns:
        The number of tasks (None when not known statically).
    """
    if not isinstance(episode, dict):
        raise TypeError(f"`{argument}` must yield dicts with keys {list(EPISODE_KEYS)}; got "
                        f"{type(episode).__name__}. Build episodes with tfq_meta.tasks.")
    missing = [key for key in EPISODE_KEYS if key not in episode]
    if missing:
        raise ValueError(f"`{argument}` elements miss keys {missing}; each element must be a dict "
                         f"with keys {list(EPISODE_KEYS)}, shaped [tasks, shots, ...].")
    shapes = {key: _shape(episode[key]) for key in EPISODE_KEYS}
    for key, shape in shapes.items():
        if key.endswith("_x") and (shape is None or len(shape) < 3):
            raise ValueError(f"`{argument}['{key}']` must be shaped [tasks, shots, features...]; "
                             f"got shape {shape}.")
        if shape is None or len(shape) < 2:
            raise ValueError(f"`{argument}['{key}']` must be shaped [tasks, shots, ...]; got shape "
                             f"{shape}.")
    described = ", ".join(f"{key} {shapes[key]}" for key in EPISODE_KEYS)
    if len({s[0] for s in shapes.values()} - {None}) > 1:
        raise ValueError(f"`{argument}` entries disagree on the number of tasks (first axis): "
                         f"{described}.")
    for part in ("support", "query"):
        x_shots, y_shots = shapes[f"{part}_x"][1], shapes[f"{part}_y"][1]
        if None not in (x_shots, y_shots) and x_shots != y_shots:
            raise ValueError(f"`{argument}` {part}_x and {part}_y disagree on the number of shots "
                             f"(second axis): {described}.")
        if 0 in (x_shots, y_shots) or 0 in shapes[f"{part}_x"][:1]:
            raise ValueError(f"`{argument}` has an empty {part} set: {described}. Every task needs "
                             "at least one support and one query example.")
    if not _compatible(shapes["support_x"][2:], shapes["query_x"][2:]):
        raise ValueError(f"`{argument}` support_x and query_x examples differ in shape: "
                         f"{described}.")
    return shapes["support_x"][0]


def _shape(value):
    shape = getattr(value, "shape", None)
    if shape is None:
        return None
    if hasattr(shape, "as_list"):
        return None if shape.rank is None else tuple(shape.as_list())
    return tuple(shape)


def _compatible(a, b):
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def unpack_episode(data, argument="episodes"):
    """The episode of a train or test step's ``data``, checked, as a dict of tensors."""
    if isinstance(data, (tuple, list)) and data and all(d is None for d in data[1:]):
        data = data[0]  # train_on_batch(episode) and fit(dict of arrays) pack it as (x,)
    check_episode(data, argument)
    return {key: tf.convert_to_tensor(data[key]) for key in EPISODE_KEYS}


class EpisodicFit:
    """Mixin for Keras models trained on episode datasets: ``fit`` without a spurious warning.

    Keras never shuffles a ``tf.data.Dataset`` (episodes are drawn at random already) but warns
    about its default ``shuffle=True`` on every ``fit``; this passes ``shuffle=False`` for
    datasets unless the caller chose.
    """

    def fit(self, x=None, *args, **kwargs):
        arguments = fit_arguments(self, x, args, kwargs)
        if isinstance(x, tf.data.Dataset):
            arguments.setdefault("shuffle", False)
        return super().fit(**arguments)


def fit_arguments(model, x, args, kwargs):
    """The arguments of a ``keras.Model.fit`` call, all by name (only those given), so that
    overrides read and add arguments wherever the caller put them."""
    bound = inspect.signature(keras.Model.fit).bind(model, x, *args, **kwargs)
    return {name: value for name, value in bound.arguments.items() if name != "self"}

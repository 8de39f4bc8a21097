"""Argument checks shared by the modules: errors that name the argument and what it accepts."""


def check_choice(value, allowed, argument):
    """Returns ``value`` if it is one of ``allowed``, else raises a ValueError naming ``argument``."""
    if value not in allowed:
        raise ValueError(f"`{argument}` must be one of {list(allowed)}; got {value!r}.")
    return value

"""Circuits, data and helpers shared by the tuning tests (not a test module)."""
import numpy as np

# The smallest circuits: one fixed value for every dimension a test does not search.
TINY = dict(n_layers=1, encoding="rx", entangler="cnot", trainable_scaling=True)


def tiny(eager=True):
    """TINY, run eagerly by default: tracing a graph costs more than these few steps."""
    return dict(TINY, compile_options={"run_eagerly": eager})


def trials(tuner):
    return list(tuner.oracle.trials.values())


def sine_examples(n_features=1, seed=0):
    """(x, y, x_val, y_val): 16 training and 8 validation examples of sin(first feature)."""
    x = np.random.default_rng(seed).uniform(-2, 2, (24, n_features)).astype(np.float32)
    y = np.sin(x[:, :1])
    return x[:16], y[:16], x[16:], y[16:]

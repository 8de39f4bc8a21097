"""Sinusoid regression, the few-shot benchmark of the MAML paper (Finn et al., 2017)."""
import math

import numpy as np

from tfq_meta._validation import check_interval, check_positive_int
from tfq_meta.tasks.family import TaskFamily


class Sinusoid(TaskFamily):
    """Tasks ``y = amplitude * sin(x - phase)`` with the MAML protocol.

    Each task draws an amplitude from ``[0.1, 5]`` and a phase from ``[0, π]``; support and query
    points are drawn uniformly from ``[-5, 5]``.

    Args:
        shots: support examples per task (K).
        query_shots: query examples per task; default ``shots``.
        amplitude_range, phase_range, x_range: the sampling intervals.

    Example:
    >>> episode = Sinusoid(shots=5, query_shots=20).sample(n_tasks=4, seed=0)
    >>> episode["support_x"].shape, episode["query_y"].shape
    ((4, 5, 1), (4, 20, 1))
    """

    def __init__(self, shots=10, query_shots=None, amplitude_range=(0.1, 5.0),
                 phase_range=(0.0, math.pi), x_range=(-5.0, 5.0)):
        check_positive_int(shots, "shots")
        query_shots = shots if query_shots is None else query_shots
        check_positive_int(query_shots, "query_shots")
        amplitude_range = check_interval(amplitude_range, "amplitude_range")
        phase_range = check_interval(phase_range, "phase_range")
        x_range = check_interval(x_range, "x_range")
        self.shots, self.query_shots = shots, query_shots
        self.amplitude_range, self.phase_range = tuple(amplitude_range), tuple(phase_range)
        self.x_range = tuple(x_range)

    def sample_function(self, rng):
        """(amplitude, phase) of a random task."""
        return rng.uniform(*self.amplitude_range), rng.uniform(*self.phase_range)

    @staticmethod
    def function(x, amplitude, phase):
        return amplitude * np.sin(x - phase)

    def task(self, rng, amplitude, phase):
        """A task of the given sinusoid, with support and query points drawn from ``rng``."""
        x = rng.uniform(*self.x_range, size=(self.shots + self.query_shots, 1))
        y = self.function(x, amplitude, phase)
        return {"support_x": x[:self.shots], "support_y": y[:self.shots],
                "query_x": x[self.shots:], "query_y": y[self.shots:]}

    def sample_task(self, rng):
        return self.task(rng, *self.sample_function(rng))

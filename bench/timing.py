"""Timing implementations against each other on a shared 2-core machine: blocks of back-to-back
steps, one block per implementation per repeat, in an order rotating between repeats. A ratio is
the median [quartiles] over repeats of the ratio of two blocks timed in the same repeat: pairing
cancels most of the drift other work adds, which a ratio of medians would not.

Each block also counts the CPU time of the whole process (every thread, ``time.process_time``):
per step, it is the work an implementation does whatever the cores it spreads it over, and over
the block's wall time, the cores it kept busy. Idle thread pools of the implementations not being
timed add little (their spinning ends in the pause before each block).
"""
import dataclasses
import statistics
import time

import numpy as np


def sync(result):
    """``result`` (or each element of a tuple or list) as NumPy: waits for it to be computed."""
    if isinstance(result, (tuple, list)):
        return [sync(r) for r in result]
    return np.asarray(result.detach() if hasattr(result, "detach") else result)


def timed_first_call(function):
    """``function()`` and the seconds it took, tracing and compilation included."""
    start = time.perf_counter()
    result = function()
    sync(result)
    return result, time.perf_counter() - start


def paired_ratio(samples, numerator, *denominators):
    """Quartiles over repeats of numerator / denominator, the latter the one of ``denominators``
    with the lowest median (a per-repeat minimum of noisy blocks would be biased low)."""
    denominator = min(denominators, key=lambda name: statistics.median(samples[name]))
    return {**quartiles([a / b for a, b in zip(samples[numerator], samples[denominator])]),
            "denominator": denominator}


def quartiles(values):
    """{"median", "q1", "q3"} of ``values`` (all three the value itself if there is one)."""
    q1, median, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return {"median": median, "q1": q1, "q3": q3}


def format_ratio(ratio, digits=2):
    """``median [q1-q3]``; ratios of a hundred and more without decimals."""
    if ratio["median"] >= 100:
        return f"{ratio['median']:.0f} [{ratio['q1']:.0f}-{ratio['q3']:.0f}]"
    return f"{ratio['median']:.{digits}f} [{ratio['q1']:.2f}-{ratio['q3']:.2f}]"


def record(n_steps, samples, ratios=None, label=None, cpu_samples=None):
    """A measurement for the JSON with the paired ``ratios`` ({key: (numerator, *denominators)})
    of the steps measured; with ``cpu_samples`` (CPU seconds per step of the same blocks), their
    median ms and the median cores busy (CPU over wall time) of each step."""
    medians = {name: 1e3 * statistics.median(v) for name, v in samples.items()}
    if label:
        print(f"  {label}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in medians.items()),
              flush=True)
    result = {"steps_per_block": n_steps, "repeats": len(next(iter(samples.values()))),
              "median_ms": medians,
              "samples_ms": {name: [1e3 * s for s in v] for name, v in samples.items()},
              "ratios": {key: paired_ratio(samples, *names)
                         for key, names in (ratios or {}).items()
                         if all(name in samples for name in names)}}
    if cpu_samples:
        result["median_cpu_ms"] = {name: 1e3 * statistics.median(v)
                                   for name, v in cpu_samples.items()}
        result["median_cores_busy"] = {
            name: statistics.median(c / w for c, w in zip(cpu_samples[name], samples[name]))
            for name in cpu_samples}
    return result


@dataclasses.dataclass(frozen=True)
class BlockTiming:
    """Blocks of about ``block_seconds`` (at least one step), each after ``settle_seconds`` (the
    thread pools of the implementation timed before go idle: TensorFlow's and torch's share the
    cores); repeats until about ``configuration_seconds``, at least ``min_repeats``, after
    ``warmup_steps`` untimed steps (the first runs after tracing are slower)."""
    block_seconds: float
    settle_seconds: float
    configuration_seconds: float = float("inf")
    min_repeats: int = 4
    warmup_steps: int = 1

    def time_block(self, step, n_steps, args=()):
        """Seconds per step, averaged over ``n_steps`` back-to-back calls of ``step(*args)``."""
        return self.timed_block(step, n_steps, args)[0]

    def timed_block(self, step, n_steps, args=()):
        """(wall seconds, the process's CPU seconds) per step, averaged over ``n_steps``
        back-to-back calls of ``step(*args)``."""
        time.sleep(self.settle_seconds)
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(n_steps):
            result = step(*args)
        sync(result)
        return ((time.perf_counter() - start) / n_steps,
                (time.process_time() - cpu_start) / n_steps)

    def measure(self, steps, max_repeats=10**6, ratios=None, label=None):
        """:func:`record` of ``steps`` ({name: step()}), as many repeats (up to ``max_repeats``)
        as fit in configuration_seconds. The steps per block come from a call timed after the
        warm-up calls, never from a first call: its compile time says nothing of the steady
        step, and blocks of one call after each settling pause time a cold step."""
        n_steps, repeat_seconds = {}, 0.0
        for name, step in steps.items():
            self.time_block(step, self.warmup_steps)
            one_step = self.time_block(step, 1)
            n = n_steps[name] = max(1, round(self.block_seconds / one_step))
            repeat_seconds += self.settle_seconds + (one_step if n == 1 else
                                                     n * self.time_block(step, n))
        fit = min(max_repeats, self.configuration_seconds / repeat_seconds)
        samples, cpu_samples = {name: [] for name in steps}, {name: [] for name in steps}
        for repeat in range(min(max_repeats, max(self.min_repeats, int(fit)))):
            # Rotated each repeat, reversed every other cycle: each step follows each other one
            # about equally often.
            names, k = tuple(steps), len(steps)
            order = names[repeat % k:] + names[:repeat % k]
            for name in order[::-1] if (repeat // k) % 2 else order:
                wall, cpu = self.timed_block(steps[name], n_steps[name])
                samples[name].append(wall)
                cpu_samples[name].append(cpu)
        return record(n_steps, samples, ratios, label, cpu_samples)

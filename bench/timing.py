"""How the benchmarks time implementations against each other on a shared 2-core machine.

Every implementation is timed in *blocks* of back-to-back steps (about ``block_seconds`` each, so
timer and loop overheads vanish), one block per implementation per *repeat*, in an order that
changes between repeats (so no implementation always runs right after the same other one). Times
are medians over repeats; a ratio of two implementations is the median (with quartiles) over
repeats of the ratio of their two blocks timed in the same repeat: pairing cancels most of the
slow drift that other work on a shared machine adds, which a ratio of two medians would not.
"""
import dataclasses
import statistics
import time

import numpy as np


def sync(result):
    """Waits for a step's result by converting it (and every element of a tuple or list) to
    NumPy; TensorFlow and torch CPU ops are synchronous anyway, this makes sure."""
    if isinstance(result, (tuple, list)):
        return [sync(r) for r in result]
    if hasattr(result, "detach"):  # A torch tensor that may require grad.
        result = result.detach()
    return np.asarray(result)


def timed_first_call(function):
    """``function()`` and the seconds it took: tracing and compilation included."""
    start = time.perf_counter()
    result = function()
    sync(result)
    return result, time.perf_counter() - start


def rotated_order(names, repeat):
    """``names`` in the order of one repeat: rotated each repeat, reversed every other cycle, so
    each one follows each other one about equally often."""
    names, k = tuple(names), len(names)
    order = names[repeat % k:] + names[:repeat % k]
    return order[::-1] if (repeat // k) % 2 else order


def paired_ratio(samples, numerator, denominator):
    """Quartiles over repeats of numerator / denominator, each ratio from the two blocks timed in
    the same repeat. ``samples``: {name: [seconds per step, one per repeat]}."""
    ratios = [a / b for a, b in zip(samples[numerator], samples[denominator])]
    q1, median, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return {"median": median, "q1": q1, "q3": q3}


def format_ratio(ratio, digits=2):
    """``median [q1-q3]``; large ratios (hundreds) without decimals."""
    if ratio["median"] >= 100:
        return f"{ratio['median']:.0f} [{ratio['q1']:.0f}-{ratio['q3']:.0f}]"
    return f"{ratio['median']:.{digits}f} [{ratio['q1']:.2f}-{ratio['q3']:.2f}]"


@dataclasses.dataclass(frozen=True)
class BlockTiming:
    """One script's timing plan.

    block_seconds: a block runs about this long (at least one step).
    settle_seconds: pause before each block, so the thread pools of the implementation timed
        before go idle (TensorFlow's and torch's pools share the same cores).
    configuration_seconds: the timed repeats of one configuration stop at about this long...
    min_repeats: ...but never before this many repeats.
    warmup_steps: untimed steps before the first block (the first runs after tracing or
        compiling are slower).
    """
    block_seconds: float
    settle_seconds: float
    configuration_seconds: float = float("inf")
    min_repeats: int = 4
    warmup_steps: int = 1

    def time_block(self, step, n_steps, args=()):
        """Seconds per step, averaged over ``n_steps`` back-to-back calls of ``step(*args)``."""
        time.sleep(self.settle_seconds)
        start = time.perf_counter()
        for _ in range(n_steps):
            result = step(*args)
        sync(result)
        return (time.perf_counter() - start) / n_steps

    def steps_per_block(self, step):
        """Steps that make a block of ``step`` last about block_seconds, and the seconds such a
        block takes (one more block, unless one step already fills it)."""
        one_step = self.time_block(step, 1)
        n_steps = max(1, round(self.block_seconds / one_step))
        block = one_step if n_steps == 1 else n_steps * self.time_block(step, n_steps)
        return n_steps, block

    def measure(self, steps, max_repeats=10**6, first_call_seconds=None):
        """Seconds per step of each of ``steps`` ({name: step()}), one block each per repeat, as
        many repeats (up to ``max_repeats``) as fit in configuration_seconds. A step whose first
        call (``first_call_seconds[name]``) took over five blocks is not warmed up again: that
        call was its warm-up, and each of its blocks is one call.

        Returns ({name: steps per block}, {name: [seconds per step, one per repeat]}).
        """
        n_steps, repeat_seconds = {}, 0.0
        for name, step in steps.items():
            first = (first_call_seconds or {}).get(name, 0.0)
            if first > 5 * self.block_seconds:
                n_steps[name], block = 1, first
            else:
                self.time_block(step, self.warmup_steps)
                n_steps[name], block = self.steps_per_block(step)
            repeat_seconds += self.settle_seconds + block
        fit = min(max_repeats, self.configuration_seconds / repeat_seconds)
        repeats = min(max_repeats, max(self.min_repeats, int(fit)))
        samples = {name: [] for name in steps}
        for repeat in range(repeats):
            for name in rotated_order(steps, repeat):
                samples[name].append(self.time_block(steps[name], n_steps[name]))
        return n_steps, samples

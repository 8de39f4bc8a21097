"""Torch's thread pool on a shared 2-core machine: the stall probe and the thread-count choice.

When another process holds a core, torch's pool stalls: an op split across 2 threads waits for
the busy core, and PennyLane steps then take many times longer on 2 threads than on 1 (40x has
been seen). The probe (with the busy CPU share: ``check_machine``) detects it before timing and
at the end; PennyLane runs on whichever of 1 and 2 threads runs its step faster, chosen per
configuration (``choose_threads``).
"""
import time

import torch

import machine_state

THREAD_CHOICES = (1, 2)
# torch.sin of this many floats is large enough for torch to split it across its threads (a
# 160-element probe runs on one thread and misses the stalls) ...
STALL_PROBE_ELEMENTS = 40_960
# ... and this many times slower on 2 threads than on 1 means the pool stalls on busy cores.
STALL_RATIO = 3.0


def sin_microseconds(threads, calls=50):
    """Mean time of torch.sin on STALL_PROBE_ELEMENTS floats on ``threads`` threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    x = torch.rand(STALL_PROBE_ELEMENTS)
    for _ in range(10):  # The first calls start torch's thread pool: not a stall.
        torch.sin(x)
    start = time.perf_counter()
    for _ in range(calls):
        torch.sin(x)
    torch.set_num_threads(previous)
    return 1e6 * (time.perf_counter() - start) / calls


def stall_probe(when="before starting"):
    """Microseconds of the probe on 1 and 2 threads; warns when 2 threads stall."""
    times = {threads: sin_microseconds(threads) for threads in THREAD_CHOICES}
    one, two = times[1], times[2]
    if two > STALL_RATIO * one:
        print(f"WARNING: torch.sin on {STALL_PROBE_ELEMENTS} floats takes {two:.0f} us on 2 "
              f"threads and {one:.0f} us on 1 ({when}): torch's thread pool is stalling on busy "
              "cores. PennyLane runs on the faster thread count, but expect noisy times.",
              flush=True)
    return {f"torch_sin_us_{n}_threads": t for n, t in times.items()}


def choose_threads(step, timing, requested=None):
    """Sets torch's thread count to ``requested``, or to whichever of THREAD_CHOICES runs
    ``step`` faster (best of 2 steps each, after one, timed by ``timing.time_block``); returns
    the choice and the trial times, for the record."""
    if requested:
        torch.set_num_threads(requested)
        return {"threads": requested}
    trial = {}
    for threads in THREAD_CHOICES:
        torch.set_num_threads(threads)
        step()
        trial[threads] = min(timing.time_block(step, 1) for _ in range(2))
    best = min(trial, key=trial.get)
    torch.set_num_threads(best)
    return {"threads": best, "trial_ms": {n: 1e3 * t for n, t in trial.items()}}


def check_machine(when="before starting"):
    """The machine check of a script that times torch: the busy CPU share (noted when other work
    competes) and the stall probe, for the record."""
    return {"busy_cpu_share": machine_state.note_if_busy(when), **stall_probe(when)}

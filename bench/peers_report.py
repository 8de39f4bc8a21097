"""bench_peers.py's physical limit and tables: the state traffic of a step, this machine's copy
bandwidth, and the ratio each row would reach with every core busy.

A pass over the state reads and writes batch · 2^n · 8 bytes (complex64) each. A forward
evaluation makes F = (steps of tfq_meta's program, ``compile_circuit``) + 1 (the observables)
passes; forward + gradient ≈ 3F (the backward pass ≈ 2F: the state's cotangent and the matrices'
gradients); a meta-step 3F · (inner steps + 1) for FOMAML (each inner step and the query:
forward + gradient on 160 examples) and 3F · (3 · inner steps + 1) for MAML (each inner gradient
differentiated again, ≈ twice its cost); qsim rows are counted as if statevector ran them. GB/s =
those bytes / median step, against this machine's bandwidth (best of 5 NumPy copies of 512 MB,
bytes read + written / time). Small states live in cache: only rows of about 12 qubits and more
compare with memory meaningfully. There the limit is the CPU work per step: every
implementation's CPU ms per step (all threads, timing.py) and cores busy are printed, and the
ratio the default would reach doing the same work with every core busy the whole step
(:func:`core_bounds`).
"""
import time

import numpy as np

import common
import timing
from tfq_meta.engines.statevector.compiler import compile_circuit

# The ratios' key of the fastest JAX peer's ratio over tfq_meta's default (bench_peers.py).
FASTEST = "fastest JAX/default"

BANDWIDTH_BYTES, BANDWIDTH_REPEATS = 2**29, 5


def forward_passes(compiled):
    """F: the passes over the state of one forward evaluation of tfq_meta's program."""
    program = compile_circuit(compiled.lowered.circuit, compiled.qubits,
                              compiled.lowered.gate_symbols)
    return len(program.steps) + 1


def memory_bandwidth():
    """GB/s of the best of BANDWIDTH_REPEATS NumPy copies of BANDWIDTH_BYTES (read + write)."""
    source = np.ones(BANDWIDTH_BYTES // 8)
    target, best = np.empty_like(source), float("inf")
    for _ in range(BANDWIDTH_REPEATS):
        start = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - start)
    return 2 * source.nbytes / best / 1e9


def add_throughput(rows, bandwidth, left_out=()):
    """Each row's bytes per step (module docstring) and GB/s of each implementation but those
    ``left_out`` (steps that simulate no state)."""
    for row in rows:
        row["bytes_per_step"] = row["state_passes"] * row["batch"] * 2 ** row["qubits"] * 8 * 2
        row["gb_per_s"] = {name: row["bytes_per_step"] / ms / 1e6
                           for name, ms in row["median_ms"].items() if name not in left_out}
        row["share_of_bandwidth"] = {name: v / bandwidth for name, v in row["gb_per_s"].items()}


def report(what, rows, default, bandwidth):
    """Prints the rows' tables: ms per ``what``, first calls, ratios over ``default``, CPU ms
    per step and cores busy, and GB/s against ``bandwidth``."""
    names = list(dict.fromkeys(name for row in rows for name in row["median_ms"]))
    labels = list(dict.fromkeys(key for row in rows for key in row["ratios"]))

    def cells(row, key, cell):
        return [cell(row, name) if name in row[key] else "-" for name in names]

    def engine(row):  # and what the library's default jit_compile resolved to
        resolved = row.get("jit_compile_resolved", {}).get(default)
        return row["auto_engine"] + ("" if resolved is None else f", jit_compile {resolved}")

    common.print_table(f"ms per {what} (median of blocks):", ["config", "engine", *names],
                       [[r["config"], engine(r), *cells(r, "median_ms", lambda r, n: (
                           f"{r['median_ms'][n]:.2f}"))] for r in rows])
    for key, where in (("first_call_s", ""), ("first_call_fresh_s", ", each in a fresh process")):
        if any(key in r for r in rows):
            common.print_table(f"first call, s (tracing, compilation, first run{where}):",
                               ["config", *names], [[r["config"], *cells(r, key, lambda r, n: (
                                   f"{r[key][n]:.1f}"))] for r in rows])
    common.print_table(f"ratios, peer / {default} (median [quartiles] of paired repeats; > 1: "
                       "tfq_meta faster):", ["config", *labels],
                       [[r["config"], *(timing.format_ratio(r["ratios"][k]) if k in r["ratios"]
                                        else "-" for k in labels)] for r in rows])
    print("  fastest JAX peer: " + ", ".join(
        f"{r['config']} {r['ratios'][FASTEST]['peer']}" for r in rows
        if FASTEST in r["ratios"]))
    if any("median_cpu_ms" in r for r in rows):
        common.print_table("CPU ms per step (every thread of the process), and cores busy (CPU / "
                           "wall time), medians of blocks:", ["config", *names],
                           [[r["config"], *cells(r, "median_cpu_ms", lambda r, n: (
                               f"{r['median_cpu_ms'][n]:.2f} ({r['median_cores_busy'][n]:.2f})"
                           ))] for r in rows])
    common.print_table(f"GB/s of state traffic (state passes x batch x 2^n x 8 B x 2), this "
                       f"machine's copy bandwidth {bandwidth:.1f} GB/s:",
                       ["config", "passes", "MB/step", *names],
                       [[r["config"], r["state_passes"], f"{r['bytes_per_step'] / 1e6:.0f}",
                         *cells(r, "gb_per_s", lambda r, n: f"{r['gb_per_s'][n]:.1f}")]
                        for r in rows])


def core_bounds(rows, default, cores):
    """{config: the fastest peer's ms (:func:`fastest_peer`'s) / (``default``'s CPU ms per step
    / ``cores``)}: the ratio ``default`` would reach doing the same work per step with every core
    busy the whole step. A goal above it needs less work per step, not only more parallelism."""
    bounds = {}
    for row in rows:
        fastest = row["ratios"].get(FASTEST)
        if fastest and default in row.get("median_cpu_ms", {}):
            bounds[row["config"]] = (row["median_ms"][fastest["peer"]]
                                     / (row["median_cpu_ms"][default] / cores))
    return bounds


def print_core_bounds(what, bounds, cores):
    print_by_config(f"{what}: fastest JAX peer / tfq_meta default's CPU work per step spread "
                    f"over {cores} cores (the ratio with every core busy)", bounds)


def print_by_config(text, values):
    """Prints ``text: config value, …`` of ``values`` {config: ratio}, if there are any."""
    if values:
        print(f"{text}: " + ", ".join(f"{config} {value:.2f}" for config, value in values.items()))

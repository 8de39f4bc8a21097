"""TensorFlow's BFC allocator for the CPU, as ``import tfq_meta`` selects, against TensorFlow's
default one, side by side.

A step: bench_engines.py's forward + gradient of ``reuploading_circuit(n_qubits, n_layers=3)`` on
160 examples, statevector engine under XLA. TensorFlow picks its CPU allocator once per process,
from ``TF_CPU_ALLOCATOR_USE_BFC``, so each allocator runs in a worker process of its own
("bfc": true, tfq_meta's default; "default": false, TensorFlow's). The workers time blocks in
turn, never at once. Also recorded per step: minor page faults and system CPU seconds (the kernel
mapping and zeroing memory), and each worker's peak resident memory.

Ratio: default / bfc, median [quartiles] of paired blocks (> 1: the BFC allocator is faster).

Run:  python bench/bench_allocator.py [--quick]   (about 4 minutes on 2 cores). Writes
      bench/output/bench_allocator.json.
"""
import resource

import common  # first: sets up TensorFlow's environment
import numpy as np

import timing

QUBITS, BATCH, BLOCKS = (8, 12, 14), 160, 8
TIMING = timing.BlockTiming(block_seconds=1.0, settle_seconds=0.03)
ALLOCATORS = {"bfc": "true", "default": "false"}


def step_worker(kind):
    steps = {}

    def handle(command):
        n = command["qubits"]
        if n not in steps:
            config = common.circuit_configuration(n, BATCH)
            steps[n] = common.expectation_step(config, "statevector", xla=True)[0]
            for _ in range(2):  # compile, then a first run after it
                timing.sync(steps[n]())
        before = resource.getrusage(resource.RUSAGE_SELF)
        seconds_per_step = TIMING.time_block(steps[n], command["steps"])
        after = resource.getrusage(resource.RUSAGE_SELF)
        return {"seconds_per_step": seconds_per_step,
                "page_faults_per_step": (after.ru_minflt - before.ru_minflt) / command["steps"],
                "system_s_per_step": (after.ru_stime - before.ru_stime) / command["steps"],
                "peak_rss_mb": after.ru_maxrss / 1024}

    common.serve(handle)


def run_configuration(n_qubits, workers, args):
    first = {name: worker.ask(timeout=900.0, qubits=n_qubits, steps=1)[0]
             for name, worker in workers.items()}
    steps = max(1, round(TIMING.block_seconds / first["bfc"]["seconds_per_step"]))
    blocks = {name: [] for name in workers}
    for repeat in range(args.blocks):
        order = list(workers) if repeat % 2 else list(workers)[::-1]
        for name in order:
            blocks[name].append(workers[name].ask(timeout=900.0, qubits=n_qubits,
                                                  steps=steps)[0])

    def median(key):
        return {name: np.median([block[key] for block in blocks[name]]) for name in workers}

    samples = {name: [b["seconds_per_step"] for b in blocks[name]] for name in workers}
    ratio = timing.paired_ratio(samples, "default", "bfc")
    row = {"qubits": n_qubits, "batch": BATCH, "steps_per_block": steps,
           "median_ms": {name: 1e3 * seconds for name, seconds in
                         median("seconds_per_step").items()},
           "page_faults_per_step": median("page_faults_per_step"),
           "system_s_per_step": median("system_s_per_step"),
           "peak_rss_mb": {n: bs[-1]["peak_rss_mb"] for n, bs in blocks.items()},
           "ratio_default_over_bfc": ratio}
    print(f"  {n_qubits} qubits: bfc {row['median_ms']['bfc']:.1f} ms, default "
          f"{row['median_ms']['default']:.1f} ms, default/bfc {timing.format_ratio(ratio)}; "
          f"page faults per step {row['page_faults_per_step']}", flush=True)
    return row


def main(args):
    run = common.start(args)
    workers = {name: common.Workers(__file__, "step", envs=({"TF_CPU_ALLOCATOR_USE_BFC": value},),
                                    name=name) for name, value in ALLOCATORS.items()}
    try:
        rows = [run_configuration(n, workers, args) for n in args.qubits]
    finally:
        for worker in workers.values():
            worker.close()
    common.print_table("ms per forward + gradient step (median of blocks):",
                       ["qubits", "bfc", "default", "default / bfc", "page faults bfc",
                        "page faults default", "peak MB bfc", "peak MB default"],
                       [[r["qubits"], f"{r['median_ms']['bfc']:.1f}",
                         f"{r['median_ms']['default']:.1f}",
                         timing.format_ratio(r["ratio_default_over_bfc"]),
                         f"{r['page_faults_per_step']['bfc']:.0f}",
                         f"{r['page_faults_per_step']['default']:.0f}",
                         f"{r['peak_rss_mb']['bfc']:.0f}", f"{r['peak_rss_mb']['default']:.0f}"]
                        for r in rows])
    goals = {"bfc_not_slower": common.goal(
        "default / bfc", 1.0, {f"{r['qubits']}q": r["ratio_default_over_bfc"]["median"]
                               for r in rows}, required=[f"{n}q" for n in args.qubits])}
    common.write_json("bench_allocator", __doc__, {**run, "goals": goals, "rows": rows})


if __name__ == "__main__":
    parser = common.parser(__doc__)
    parser.add_argument("--qubits", type=int, nargs="+", default=list(QUBITS))
    parser.add_argument("--blocks", type=int, default=BLOCKS, help="paired blocks per size")
    common.run(parser, main, step_worker, qubits=[8, 12], blocks=2)

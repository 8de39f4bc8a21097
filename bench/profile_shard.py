"""Where one task shard of the default meta-step spends its time, operation by operation.

bench_peers.py's meta-step (its student, episode and MetaLearner options) at ``--qubits``: the
first task shard's meta-gradients, one XLA computation called directly (as
``bench_peers.tfq_meta_shard_alone`` times it), run ``--calls`` times under TensorFlow's profiler
with XLA:CPU recording each operation it runs (``--xla_cpu_enable_xprof_traceme``). Prints each
XLA operation's µs per call, largest first, with the TensorFlow op it came from (read from the
optimized HLO, which XLA dumps to a temporary directory), and their sum: the profile adds a
little time to each operation. A parallel fusion (``call.N``) is counted once, not again for the
parts it splits into (``fusion.N.clone``); a loop's operations are counted in every iteration.

Run:  python bench/profile_shard.py [--qubits 4] [--algorithm fomaml] [--calls 20] [--top 30]
"""
import argparse
import collections
import os
import re
import shutil
import tempfile
from pathlib import Path

DUMP = tempfile.mkdtemp(prefix="profile_shard_hlo_")
# Before TensorFlow starts: XLA reads its flags once.
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_enable_xprof_traceme"
                           f" --xla_dump_to={DUMP} --xla_dump_hlo_as_text")

import common  # noqa: E402  (after XLA_FLAGS)
import tensorflow as tf  # noqa: E402
# The profile's protocol buffer (checked on TensorFlow 2.18): TensorFlow has no public reader of it.
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

import bench_peers  # noqa: E402
import timing  # noqa: E402

# Events not counted: those that hold others (the executors', the loops') and the parts a parallel
# fusion splits into, which its call.N event already counts.
CONTAINERS = re.compile(r"^(ThunkExecutor::Execute|while\.\d+)$|\.clone$")


def shard_step(n_qubits, algorithm):
    """bench_peers' shard-alone step, checked against the float64 meta-gradient as there."""
    config = bench_peers.meta_configuration(n_qubits)
    return bench_peers.tfq_meta_shard_alone(
        config, algorithm, bench_peers.float64_reference(config, algorithm)[1])


def op_names():
    """{XLA operation name: the TensorFlow op it came from}, from the optimized HLO dumps; a
    parallel fusion (``call.N``, no metadata of its own) takes its computation's root's."""
    names = {}
    for path in Path(DUMP).glob("*cpu_after_optimizations.txt"):
        text = path.read_text()
        for match in re.finditer(r"^\s+(\S+) = .*?op_name=\"([^\"]+)\"", text, re.MULTILINE):
            names.setdefault(match[1], match[2])
        for match in re.finditer(r"^\s+(call\.\d+) = .*to_apply=(\S+)", text, re.MULTILINE):
            body = re.search(rf"^{re.escape(match[2])} .*?^}}", text, re.MULTILINE | re.DOTALL)
            inner = body and re.search(r'ROOT .*?op_name="([^"]+)"', body[0])
            if inner:
                names.setdefault(match[1], inner[1])
    return names


def operation_times(directory, calls):
    """{XLA operation: (µs per call, events per call)} of the host's worker threads."""
    total, count = collections.Counter(), collections.Counter()
    for path in Path(directory).rglob("*.xplane.pb"):
        space = xplane_pb2.XSpace()
        space.ParseFromString(path.read_bytes())
        for plane in space.planes:
            for line in plane.lines:
                if line.name == "python":
                    continue
                for event in line.events:
                    name = plane.event_metadata[event.metadata_id].name
                    if not CONTAINERS.search(name):
                        total[name] += event.duration_ps / 1e6
                        count[name] += 1
    return {name: (total[name] / calls, count[name] / calls) for name in total}


def profile(args):
    """(operation_times, op_names) of ``--calls`` calls of the shard, after as many to warm."""
    step = shard_step(args.qubits, args.algorithm)
    for _ in range(args.calls):  # warm: the first calls compile and allocate
        timing.sync(step())
    with tempfile.TemporaryDirectory() as directory:
        tf.profiler.experimental.start(directory)
        for _ in range(args.calls):
            result = step()
        timing.sync(result)
        tf.profiler.experimental.stop()
        return operation_times(directory, args.calls), op_names()


def main(args):
    try:
        times, names = profile(args)
    finally:  # the HLO dump is only read here, whether profiling ended or failed
        shutil.rmtree(DUMP, ignore_errors=True)
    rows = sorted(times.items(), key=lambda item: -item[1][0])
    common.print_table(
        f"{args.qubits}q {args.algorithm}, one task shard alone: XLA operations, µs per call "
        f"(sum {sum(us for us, _ in times.values()):.0f})", ["operation", "µs", "runs", "from"],
        [[name, f"{us:.1f}", f"{runs:g}", names.get(name, "")] for name, (us, runs)
         in rows[:args.top]])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--qubits", type=int, default=4)
    parser.add_argument("--algorithm", default="fomaml", choices=bench_peers.ALGORITHMS)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--top", type=int, default=30, help="operations printed")
    args = parser.parse_args()
    if args.calls < 1:
        parser.error(f"--calls must be at least 1; got {args.calls}")
    main(args)

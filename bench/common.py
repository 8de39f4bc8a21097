"""What the benchmark scripts share: command line, machine state, tables, JSON, worker processes.

Import it before TensorFlow: it quiets TensorFlow's C++ logs, picks Keras' TensorFlow backend and
puts this checkout first on sys.path, so the scripts and their workers measure its tfq_meta.
"""
import argparse
import json
import os
import platform
import select
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
OUTPUT = BENCH / "output"
# A busy CPU share above this means other work competes for the 2 cores; waiting for an idle
# machine stops below IDLE_SHARE, polled every POLL_SECONDS.
BUSY_SHARE, IDLE_SHARE, POLL_SECONDS = 0.2, 0.25, 30.0


def parser(doc, wait=0.0, workers=False):
    """The arguments every script takes: --quick and --wait MINUTES; with ``workers``, the
    hidden --worker KIND that starts the script as one of its :class:`Workers`."""
    arguments = argparse.ArgumentParser(description=doc.split("\n")[0])
    arguments.add_argument("--quick", action="store_true", help="a short smoke run")
    arguments.add_argument("--wait", type=float, default=wait,
                           help=f"minutes to wait at most for idle CPUs first (default {wait})")
    if workers:
        arguments.add_argument("--worker", help=argparse.SUPPRESS)
    return arguments


def parse(arguments, **quick):
    """The parsed arguments; with --quick, ``quick``'s values replace theirs."""
    args = arguments.parse_args()
    if args.quick:
        vars(args).update(quick)
    return args


def busy_cpu_share(seconds=1.0):
    """Share of all CPUs' time spent busy over ``seconds`` (from /proc/stat), or None."""
    def idle_and_total():
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, all

    try:
        idle_before, total_before = idle_and_total()
        time.sleep(seconds)
        idle_after, total_after = idle_and_total()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (idle_after - idle_before) / max(1, total_after - total_before)


def note_if_busy(when="before starting"):
    """The busy CPU share, with a note when other work competes (it slows everything unevenly)."""
    share = busy_cpu_share()
    if share is not None and share > BUSY_SHARE:
        print(f"note: the CPUs were {100 * share:.0f}% busy {when}; expect noisier times.",
              flush=True)
    return share


def wait_for_idle(minutes):
    """Polls until the CPUs are idle or ``minutes`` have passed; what happened (None: no wait)."""
    if minutes <= 0:
        return None
    start, history = time.monotonic(), []
    while True:
        history.append(busy_cpu_share(2.0))
        idle = history[-1] is None or history[-1] < IDLE_SHARE
        if idle or time.monotonic() + POLL_SECONDS > start + 60 * minutes:
            if not idle:
                print(f"WARNING: the CPUs stayed busy for {minutes} minutes; running anyway.")
            return {"idle": idle, "waited_s": time.monotonic() - start, "busy_shares": history}
        print(f"  CPUs {100 * history[-1]:.0f}% busy; waiting for them to go idle...", flush=True)
        time.sleep(POLL_SECONDS)


def start(args):
    """Waits for idle CPUs (--wait) and notes the busy share: the JSON's record of the run."""
    return {"arguments": vars(args), "machine": {"waited_for_idle": wait_for_idle(args.wait),
                                                  "busy_share_before": note_if_busy()}}


def git_state():
    """Commit and modified files of the checkout measured."""
    def git(*command):
        return subprocess.run(["git", *command], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout

    try:
        modified = git("status", "--porcelain", "--untracked-files=no").split("\n")
        return {"commit": git("rev-parse", "HEAD").strip(),
                "modified": [line[3:] for line in modified if line.strip()]}
    except (OSError, subprocess.CalledProcessError):
        return None


def environment(**extra):
    """Checkout, Python, TensorFlow, TFQ and Keras versions and the CPUs, plus ``extra``."""
    import keras
    import tensorflow as tf
    import tensorflow_quantum as tfq

    return {"git": git_state(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "tensorflow_quantum": tfq.__version__,
            "keras": keras.__version__, "cpus": os.cpu_count(), "machine": platform.machine(),
            **extra}


def write_json(name, doc, results, **versions):
    """Writes bench/output/<name>.json: the script's docstring (what it measures), ``results``
    (with :func:`start`'s record, to which the busy share now is added) and the software
    measured (plus ``versions``). Atomic: a temporary file, renamed."""
    OUTPUT.mkdir(exist_ok=True)
    results["machine"]["busy_share_after"] = note_if_busy("after the run")
    text = json.dumps({"description": doc, **results, "environment": environment(**versions)},
                      indent=1, default=str)
    with tempfile.NamedTemporaryFile("w", dir=OUTPUT, suffix=".tmp", delete=False) as file:
        file.write(text)
    path = OUTPUT / f"{name}.json"
    os.replace(file.name, path)
    print(f"wrote {path}")


def timing_record(n_steps, samples):
    """What the JSON keeps of a measurement: steps per block, repeats, medians and samples (ms)."""
    return {"steps_per_block": n_steps, "repeats": len(next(iter(samples.values()))),
            "median_ms": {name: 1e3 * statistics.median(v) for name, v in samples.items()},
            "samples_ms": {name: [1e3 * s for s in v] for name, v in samples.items()}}


def print_table(title, header, rows):
    """A markdown table under ``title``; ``rows`` are lists of cells, padded to align."""
    rows = [[str(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(cell.rjust(width) for cell, width in zip(cells, widths)) + " |"

    print(f"\n{title}\n{line(rows[0])}\n|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    for row in rows[1:]:
        print(line(row))


def verdict(met):
    """A goal's verdict; met is None when the sizes the goal names were not all measured."""
    return {True: "met", False: "MISSED", None: "UNDECIDED (goal sizes not all measured)"}[met]


def serve(handle):
    """A worker's loop: ``handle(command)`` answers each JSON line on stdin with one JSON line,
    or with {"error": traceback}, until stdin closes. Replies go to a private copy of stdout;
    whatever libraries print goes to stderr."""
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    for line in sys.stdin:
        try:
            reply = handle(json.loads(line))
        except Exception:
            reply = {"error": traceback.format_exc()}
        replies.write(json.dumps(reply) + "\n")


class Workers:
    """Processes of ``script --worker KIND`` (one per ``envs`` entry: extra environment
    variables), each leading its own process group, driven by JSON lines (:func:`serve`).
    Their stderr goes to temporary files, whose ends any error quotes."""

    def __init__(self, script, kind, envs=({},), name=None):
        # Imported here: tfq_meta starts TensorFlow's runtime, which a worker sets up first.
        from tfq_meta.distributed import processes

        self.name = name or kind
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(ROOT), os.environ.get("PYTHONPATH", "")])}
        self.errors = [tempfile.TemporaryFile("w+") for _ in envs]
        self.processes = [processes.start_process_group(
            [sys.executable, str(script), "--worker", kind], env={**env, **extra}, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors)
            for extra, errors in zip(envs, self.errors)]

    def ask(self, timeout=120.0, **command):
        """Sends ``command`` to every worker; their replies, in worker order."""
        try:
            for process in self.processes:
                process.stdin.write(json.dumps(command) + "\n")
                process.stdin.flush()
        except OSError:
            raise self.failure("a worker exited") from None
        deadline, replies = time.monotonic() + timeout, []
        for process in self.processes:
            ready, _, _ = select.select([process.stdout], [], [],
                                        max(0.0, deadline - time.monotonic()))
            line = process.stdout.readline() if ready else ""
            if not line:
                raise self.failure("a worker exited" if ready else f"no reply in {timeout} s")
            replies.append(json.loads(line))
            if "error" in replies[-1]:
                raise self.failure(replies[-1]["error"])
        return replies

    def failure(self, message):
        """A RuntimeError quoting ``message`` and the end of every worker's stderr."""
        tails = []
        for errors in self.errors:
            errors.seek(0)
            tails.append(errors.read()[-2000:])
        return RuntimeError(f"{self.name}: {message}\nworkers' stderr:\n" + "\n---\n".join(tails))

    def close(self):
        """Stops the workers and whatever they started (SIGTERM, SIGKILL after 10 s)."""
        from tfq_meta.distributed.processes import stop_process_groups

        stop_process_groups(self.processes, grace=10.0)
        for errors in self.errors:
            errors.close()


def circuit_configuration(n_qubits, batch, n_layers=3, seed=0):
    """bench_engines' and bench_pqc's workload: ``reuploading_circuit(n_qubits, n_layers)``,
    random weights, a batch of features and a loss cotangent (float32)."""
    import numpy as np

    import tfq_meta

    spec = tfq_meta.circuits.reuploading_circuit(n_qubits, n_layers=n_layers)
    rng = np.random.default_rng(seed)
    return {"spec": spec, "qubits": n_qubits, "batch": batch,
            "gates": len(list(spec.circuit.all_operations())),
            "weights": rng.uniform(0, 2 * np.pi, len(spec.weight_symbols)).astype(np.float32),
            "features": rng.uniform(-np.pi, np.pi, (batch, len(spec.data_symbols))
                                    ).astype(np.float32),
            "cotangent": rng.normal(size=(batch, n_qubits)).astype(np.float32)}


def gradient_step(forward, weights, cotangent, jit_compile=False):
    """A tf.function of features: loss = sum(forward(features) * cotangent), its gradients with
    respect to ``weights`` and the features, and forward's values, all returned so that graph
    pruning cannot drop them."""
    import tensorflow as tf

    @tf.function(jit_compile=jit_compile)
    def step(features):
        with tf.GradientTape() as tape:
            tape.watch(features)
            values = forward(features)
            loss = tf.reduce_sum(values * cotangent)
        return (loss, *tape.gradient(loss, [weights, features]), values)

    return step

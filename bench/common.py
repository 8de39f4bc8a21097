"""What the benchmark scripts share. Import it before TensorFlow: it quiets TensorFlow's C++ logs,
picks Keras' TensorFlow backend and puts this checkout first on sys.path (for workers too).
"""
import argparse
import hashlib
import json
import os
import platform
import select
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

import timing

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
STARTED = time.monotonic()
BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
# Above BUSY_SHARE other work competes for the 2 cores; waiting for idle CPUs ends below
# IDLE_SHARE, polled every POLL_SECONDS.
BUSY_SHARE, IDLE_SHARE, POLL_SECONDS = 0.2, 0.25, 30.0


def parser(doc, wait=0.0, **defaults):
    """--quick and --wait MINUTES, and ``defaults`` that no option sets (--quick may)."""
    arguments = argparse.ArgumentParser(description=doc.split("\n")[0])
    arguments.add_argument("--quick", action="store_true", help="a short smoke run")
    arguments.add_argument("--wait", type=float, default=wait,
                           help=f"minutes to wait at most for idle CPUs first (default {wait})")
    arguments.set_defaults(**defaults)
    return arguments


def run(arguments, main, worker=None, **quick):
    """``main(args)``, or ``worker(kind)`` under --worker KIND (:class:`Workers`); with --quick,
    ``quick``'s values replace the arguments'."""
    if worker:
        arguments.add_argument("--worker", help=argparse.SUPPRESS)
    args = arguments.parse_args()
    if args.quick:
        vars(args).update(quick)
    if worker and args.worker:
        worker(args.worker)
    else:
        main(args)


def busy_cpu_share(seconds=1.0, when=None):
    """Share of all CPUs' time spent busy over ``seconds``, or None; noted if high ``when``."""
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
    share = 1.0 - (idle_after - idle_before) / max(1, total_after - total_before)
    if when and share > BUSY_SHARE:
        print(f"note: the CPUs were {100 * share:.0f}% busy {when}; expect noisier times.",
              flush=True)
    return share


def sources_hash():
    """A hash of tfq_meta's sources: autograph reads a function's source when it traces it, so
    an edit while a script runs changes what it measures."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "tfq_meta").rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def start(args):
    """Waits for idle CPUs (--wait) and notes the busy share: the JSON's record of the run."""
    begin, shares = time.monotonic(), []
    while args.wait > 0:
        shares.append(busy_cpu_share(2.0))
        if (shares[-1] is None or shares[-1] < IDLE_SHARE
                or time.monotonic() + POLL_SECONDS > begin + 60 * args.wait):
            break
        print(f"  CPUs {100 * shares[-1]:.0f}% busy; waiting for them to go idle...", flush=True)
        time.sleep(POLL_SECONDS)
    return {"arguments": vars(args), "tfq_meta_sources": sources_hash(), "machine": {
        "waited_s": time.monotonic() - begin, "busy_shares_while_waiting": shares,
        "busy_share_before": busy_cpu_share(when="before starting")}}


def write_json(name, doc, results, **versions):
    """Writes bench/output/<name>.json atomically: ``results``, checkout and software measured."""
    import keras
    import tensorflow as tf
    import tensorflow_quantum as tfq

    def git(*command):
        return subprocess.run(["git", *command], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout

    try:
        modified = git("status", "--porcelain", "--untracked-files=no").split("\n")
        checkout = {"commit": git("rev-parse", "HEAD").strip(),
                    "modified": [line[3:] for line in modified if line.strip()]}
    except (OSError, subprocess.CalledProcessError):
        checkout = None
    results["machine"]["busy_share_after"] = busy_cpu_share(when="after the run")
    if results["tfq_meta_sources"] != sources_hash():
        print("WARNING: tfq_meta's sources changed while this script ran: rerun.", flush=True)
    results["total_s"] = time.monotonic() - STARTED
    print(f"total {results['total_s']:.0f} s")
    environment = {"git": checkout, "python": platform.python_version(),
                   "tensorflow": tf.__version__, "tensorflow_quantum": tfq.__version__,
                   "keras": keras.__version__, "cpus": os.cpu_count(),
                   "machine": platform.machine(), **versions}
    output = BENCH / "output"
    output.mkdir(exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=output, suffix=".tmp", delete=False) as file:
        json.dump({"description": doc, **results, "environment": environment}, file, indent=1,
                  default=str)
    os.replace(file.name, output / f"{name}.json")
    print(f"wrote {output / name}.json")


def print_table(title, header, rows):
    """A markdown table under ``title``; ``rows`` are lists of cells, padded to align."""
    rows = [[str(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(cell.rjust(width) for cell, width in zip(cells, widths)) + " |"

    print(f"\n{title}\n{line(rows[0])}\n|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    for row in rows[1:]:
        print(line(row))


def print_timings(what, rows, columns, after=None, digits=2, ratio_digits=2):
    """``rows``' columns, median ms, paired ratios, then ``after`` ({header: cell function})."""
    names = list(dict.fromkeys(n for r in rows for n in r["median_ms"]))
    ratios, after = list(dict.fromkeys(k for r in rows for k in r["ratios"])), after or {}
    print_table(f"ms per {what} (median), and ratios (median [quartiles] of paired repeats; "
                "-: not measured):",
                [*(c.replace("_", " ") for c in columns), *names, *ratios, *after],
                [[*(r[c] for c in columns),
                  *(f"{r['median_ms'][n]:.{digits}f}" if n in r["median_ms"] else "-"
                    for n in names),
                  *(timing.format_ratio(r["ratios"][k], ratio_digits) if k in r["ratios"]
                    else "-" for k in ratios),
                  *(cell(r) for cell in after.values())] for r in rows])


def goal(text, bound, ratios, at_least=True, required=(), note=""):
    """Prints and returns a goal: every ratio ({where: value}) >= ``bound`` (<= unless
    ``at_least``); undecided if otherwise met while a place in ``required`` was not measured."""
    missing = [where for where in required if where not in ratios]
    met = all(r >= bound if at_least else r <= bound for r in ratios.values())
    met = None if missing and met else met
    text = f"{text} {'>=' if at_least else '<='} {bound}"
    verdict = {True: "met", False: "MISSED", None: "UNDECIDED (goal sizes not all measured)"}[met]
    print(f"goal: {text}: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items())
          + f" -> {verdict}{note}")
    return {"goal": text, "ratios": ratios, "not_measured": missing, "met": met}


def agree(what, value, expected, tolerance):
    """The largest difference relative to the reference's size (at least 1); raises above
    ``tolerance``: timing implementations that compute different things means nothing."""
    value, expected = np.asarray(value, np.float64), np.asarray(expected, np.float64)
    error = float(np.max(np.abs(value - expected))) / max(1.0, float(np.max(np.abs(expected))))
    if error > tolerance:
        raise AssertionError(f"{what}: relative difference {error:.2e} > {tolerance}.")
    return error


def serve(handle):
    """Answers each JSON line on stdin by ``handle``; what libraries print goes to stderr."""
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    for line in sys.stdin:
        try:
            reply = handle(json.loads(line))
        except Exception:
            reply = {"error": traceback.format_exc()}
        replies.write(json.dumps(reply) + "\n")


class Workers:
    """Process groups of ``script --worker KIND``, one per ``envs`` entry, driven by JSON lines."""

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

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.close()


def circuit_configuration(n_qubits, batch, n_layers=3, seed=0):
    """``reuploading_circuit(n_qubits, n_layers)``, random weights, features and cotangent."""
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
    """tf.function of features: sum(forward * cotangent), its gradients w.r.t. ``weights`` and
    features, and forward's values (all returned: graph pruning cannot drop them)."""
    import tensorflow as tf

    @tf.function(jit_compile=jit_compile)
    def step(features):
        with tf.GradientTape() as tape:
            tape.watch(features)
            values = forward(features)
            loss = tf.reduce_sum(values * cotangent)
        return (loss, *tape.gradient(loss, [weights, features]), values)

    return step


def expectation_step(config, engine="auto", xla=True):
    """bench_engines' step on CircuitExpectation: the configuration's Z expectations and their
    gradients (see :func:`gradient_step`), under XLA if ``xla`` and the circuit can run there
    (TFQ's qsim ops cannot). Returns (the step, of no arguments; the CircuitExpectation; the
    engine that runs the step: ``"auto"`` picks statevector under XLA up to 16 qubits)."""
    import tensorflow as tf

    from tfq_meta.layers.circuit_weights import CircuitWeights
    from tfq_meta.ops import CircuitExpectation

    spec = config["spec"]
    expectation = CircuitExpectation(spec.circuit, spec.data_symbols + spec.weight_symbols,
                                     [f"Z{i}" for i in range(config["qubits"])], engine=engine)
    weights, features = tf.Variable(config["weights"]), tf.constant(config["features"])

    def forward(features):  # as tfq_meta.layers.PQC.call: features next to the shared weights
        return expectation(CircuitWeights.symbol_values(features, weights))

    compiled = expectation.compiled
    xla = xla and compiled.supports_jit
    step = gradient_step(forward, weights, tf.constant(config["cotangent"]), jit_compile=xla)
    return (lambda: step(features)), expectation, compiled.xla_engine if xla else compiled.engine

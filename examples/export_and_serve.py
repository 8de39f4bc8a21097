"""Train, export, serve: a meta-learned quantum model that adapts to new tasks at serving time.

1. Meta-train a 4-qubit re-uploading student on few-shot sinusoid regression with ANIL (the
   inner loop adapts the Dense readout), as examples/few_shot_sinusoid.py does, more briefly.
2. Export it with ``meta.export(path)``: a SavedModel with two signatures, ``serve(x)`` (the
   meta-learned initialization) and ``adapt_and_predict(support_x, support_y, query_x)``, whose
   inner loop (ADAPTATION_STEPS gradient steps) runs inside the graph.
3. In a fresh Python process (as a server would), load it with ``tfq_meta.export.load`` and
   adapt to tasks it never saw from 10 points each; print the query MSE before and after
   adaptation, and check the served numbers equal the in-memory learner's.

Run:  python examples/export_and_serve.py      (about 1.5 minutes on 2 cores)
Writes examples/output/meta_savedmodel/ and examples/output/export_and_serve.png.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

OUTPUT = Path(__file__).parent / "output"
SAVEDMODEL = OUTPUT / "meta_savedmodel"
SHOTS, NEW_TASKS, ADAPTATION_STEPS = 10, 3, 10
META_STEPS, META_BATCH = 300, 16


def train_and_export():
    import keras

    from tfq_meta import MetaLearner, models, tasks

    keras.utils.set_random_seed(0)
    meta = MetaLearner(models.student(n_features=1, n_qubits=4, n_layers=2), algorithm="anil",
                       inner_steps=5, inner_lr=0.2)
    meta.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    family = tasks.Sinusoid(shots=SHOTS)
    print(f"meta-training anil ({META_STEPS} steps of {META_BATCH} tasks)")
    meta.fit(family.episodes(META_BATCH, seed=0), epochs=3, steps_per_epoch=META_STEPS // 3,
             verbose=2)
    # overwrite=True replaces the SavedModel of an earlier run, atomically; it refuses to
    # replace a directory that holds anything else.
    meta.export(SAVEDMODEL, overwrite=True, adaptation_steps=ADAPTATION_STEPS)
    return meta, new_tasks()


def new_tasks():
    """Tasks from a seed meta-training never used, with a dense query grid for plotting."""
    from tfq_meta.tasks import Sinusoid

    family, rng = Sinusoid(shots=SHOTS), np.random.default_rng(2024)
    grid = np.linspace(-5, 5, 100, dtype=np.float32)[:, None]
    result = []
    for _ in range(NEW_TASKS):
        amplitude, phase = family.sample_function(rng)
        task = family.task(rng, amplitude, phase)
        result.append({"support_x": task["support_x"].astype(np.float32),
                       "support_y": task["support_y"].astype(np.float32),
                       "query_x": grid, "query_y": family.function(grid, amplitude, phase)})
    return result


def serve():
    """Runs in a fresh process: load the SavedModel and adapt to each new task."""
    from tfq_meta.export import load

    served = load(SAVEDMODEL)
    print(f"fresh process loaded {SAVEDMODEL.name}; endpoints {served.endpoints}")
    results = []
    for task in new_tasks():
        before = served.serve(task["query_x"])
        after = served.adapt_and_predict(task["support_x"], task["support_y"], task["query_x"])
        results.append({"before": before.tolist(), "after": after.tolist()})
    print(json.dumps(results))


def main():
    meta, tasks = train_and_export()
    process = subprocess.run([sys.executable, __file__, "--serve"], capture_output=True,
                             text=True, check=False)
    if process.returncode != 0:
        raise RuntimeError(f"the serving process failed:\n{process.stderr}")
    lines = process.stdout.strip().splitlines()
    print(lines[0])
    served = json.loads(lines[-1])

    print(f"\nnew task | query MSE before adaptation | after {ADAPTATION_STEPS} steps (served) | "
          "served - in memory")
    for i, (task, result) in enumerate(zip(tasks, served)):
        in_memory = meta.adapt_and_predict(task["support_x"][None], task["support_y"][None],
                                           task["query_x"][None], steps=ADAPTATION_STEPS)[0]
        difference = np.max(np.abs(np.array(result["after"]) - in_memory))
        print(f"{i:>8} | {mse(result['before'], task['query_y']):>27.3f} | "
              f"{mse(result['after'], task['query_y']):>28.3f} | {difference:.1e}")
    plot(tasks, served)


def mse(predictions, targets):
    return float(np.mean((np.array(predictions) - targets) ** 2))


def plot(tasks, served):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfq_meta.saving import write_atomically

    figure, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.8), sharey=True)
    for axis, task, result in zip(axes, tasks, served):
        grid = task["query_x"][:, 0]
        axis.plot(grid, task["query_y"][:, 0], color="black", label="task")
        axis.plot(grid, np.array(result["before"])[:, 0], "--", color="tab:grey",
                  label="served, before adaptation")
        axis.plot(grid, np.array(result["after"])[:, 0], color="tab:green",
                  label=f"served, adapted ({ADAPTATION_STEPS} steps)")
        axis.scatter(task["support_x"][:, 0], task["support_y"][:, 0], color="tab:red", zorder=3,
                     label=f"{SHOTS} support points")
        axis.set_xlabel("x")
    axes[0].set_ylabel("y")
    axes[0].legend(fontsize=8)
    figure.suptitle("A SavedModel adapting to new tasks in a fresh process")
    figure.tight_layout()
    write_atomically(lambda staging: figure.savefig(staging, dpi=120),
                     OUTPUT / "export_and_serve.png")
    print(f"Plot: {OUTPUT / 'export_and_serve.png'}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        main()

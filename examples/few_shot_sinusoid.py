"""Few-shot sinusoid regression: meta-learn a quantum model's initialization (the MAML protocol).

Every task is y = A sin(x - φ) with A in [0.1, 5], φ in [0, π] and x in [-5, 5] (Finn et al.,
2017). The default 4-qubit re-uploading student (37 parameters) is meta-trained by every
algorithm of tfq_meta.MetaLearner with the library's defaults: only the algorithm's name is
given. On 600 held-out tasks, with K = 5, 10 and 20 support points, the script measures the query
MSE after 0 to 20 inner steps against two baselines that adapt with the default inner loop:

- scratch: the same model from a random initialization;
- joint pre-training: the same model fitted to the pooled data of many tasks (the usual transfer
  baseline; it learns the average task, y ≈ 0).

It prints the classical anchors of the Meta-SGD paper (an MLP with thousands of weights, K=10,
one step) beside our rows, and checks the goals of the adaptation curves.

Run:  python examples/few_shot_sinusoid.py        (about 5 minutes on 2 cores)
Writes examples/output/few_shot_sinusoid.png (adaptation curves and example fits) and saves the
MAML MetaLearner to examples/output/few_shot_sinusoid.keras, checking that it reloads.
"""
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

from tfq_meta import MetaLearner, models, tasks  # noqa: E402
from tfq_meta.saving import save_model, write_atomically  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OUTPUT = Path(__file__).parent / "output"
SHOTS = (5, 10, 20)
TEST_TASKS, QUERY_POINTS, MAX_STEPS = 600, 50, 20
META_BATCH, META_STEPS = 16, 600
ALGORITHMS = ("maml", "fomaml", "reptile", "metasgd", "anil")
# Query MSE at K=10 after one step, of an MLP with 2 hidden layers of 40 units (Li et al., 2017,
# "Meta-SGD", Table 1).
CLASSICAL_ANCHORS = {"MAML, classical MLP": 0.85, "Meta-SGD, classical MLP": 0.53}


def student():
    return models.student(n_features=1)


def meta_train(algorithm):
    keras.utils.set_random_seed(0)
    meta = MetaLearner(student(), algorithm=algorithm)
    meta.compile(loss="mse")
    family = tasks.Sinusoid(shots=10)
    print(f"\nmeta-training {algorithm} ({META_STEPS} steps of {META_BATCH} tasks; "
          f"{meta.inner_steps} inner steps)")
    meta.fit(family.episodes(META_BATCH, seed=0), epochs=4, steps_per_epoch=META_STEPS // 4,
             validation_data=family.episodes(META_BATCH, seed=1, n_episodes=4), verbose=2)
    return meta


def pretrained_jointly():
    """The same model fitted by plain Keras to the pooled points of 2000 tasks."""
    keras.utils.set_random_seed(0)
    pooled = tasks.Sinusoid(shots=10).sample(2000, seed=3)
    model = student()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    print("\njoint pre-training on the pooled data of 2000 tasks")
    model.fit(pooled["support_x"].reshape(-1, 1), pooled["support_y"].reshape(-1, 1),
              batch_size=200, epochs=3, verbose=2)
    return adapter(model)


def adapter(model):
    """A MetaLearner used only for its inner loop, with the default MAML options."""
    learner = MetaLearner(model)
    learner.compile(loss="mse")
    return learner


def main():
    OUTPUT.mkdir(exist_ok=True)
    learners = {name: meta_train(name) for name in ALGORITHMS}
    keras.utils.set_random_seed(1)
    learners["scratch"] = adapter(student())
    learners["joint pre-training"] = pretrained_jointly()

    curves = {}
    for name, learner in learners.items():
        for k in SHOTS:
            test = tasks.Sinusoid(shots=k, query_shots=QUERY_POINTS).sample(TEST_TASKS, seed=2026)
            curves[name, k] = learner.adaptation_losses(test, MAX_STEPS)  # [steps + 1, tasks]
    print_table(learners, curves)
    print_goals(curves)
    print("\nlearned inner rates of MAML (per weight group, steps 1-5):")
    for group, rates in learners["maml"].inner_rates.by_group().items():
        print(f"  {group:28} {np.array2string(rates, precision=3)}")
    plot(learners, curves)
    print(f"\nplot: {OUTPUT / 'few_shot_sinusoid.png'}")
    check_saved(learners["maml"])


def print_table(learners, curves):
    print(f"\nquery MSE on {TEST_TASKS} held-out tasks (mean ± standard error; the variance of "
          "a task's y is A²/2, 4.2 on average)")
    columns = [(k, s) for k in SHOTS for s in (1, 10)]
    print(f"{'':26}" + "".join(f"{f'K={k} {s} step' + 's' * (s > 1):>15}" for k, s in columns))
    for name in learners:
        print(f"{name:26}" + "".join(f"{_mean_and_error(curves[name, k][s]):>15}"
                                     for k, s in columns))
    k10_one_step = columns.index((10, 1))
    for name, value in CLASSICAL_ANCHORS.items():
        print(f"{name:26}" + " " * 15 * k10_one_step + f"{value:>15.2f}")


def print_goals(curves):
    """The goals of the adaptation curves, each with its measured value."""
    mean = {key: losses.mean(axis=1) for key, losses in curves.items()}
    checks = []
    for name in ALGORITHMS:
        for k in SHOTS:
            ratio = mean[name, k][10] / mean["scratch", k][10]
            checks.append((f"{name} K={k}: 10 steps ≤ 0.2 × scratch", ratio, 0.2))
            growth = np.max(mean[name, k][1:] / mean[name, k][:-1])
            checks.append((f"{name} K={k}: curve never grows > 1.1× per step (0-20)", growth,
                           1.1))
    checks += [("maml K=10: 1 step ≤ 1.0", mean["maml", 10][1], 1.0),
               ("maml K=10: 10 steps ≤ 0.30", mean["maml", 10][10], 0.30),
               ("metasgd K=10: 1 step ≤ 0.30", mean["metasgd", 10][1], 0.30),
               ("best K=10: 10 steps ≤ 0.08", min(mean[n, 10][10] for n in ALGORITHMS), 0.08)]
    print("\ngoals:")
    for text, value, bound in checks:
        print(f"  {'met ' if value <= bound else 'MISS'}  {text:58} {value:.3f}")


def check_saved(meta):
    """The MetaLearner round-trips through a .keras file: same adaptation, same predictions."""
    path = OUTPUT / "few_shot_sinusoid.keras"
    save_model(meta, path)   # atomic: a killed save keeps the previous file
    reloaded = keras.models.load_model(path)
    task = tasks.Sinusoid(shots=10, query_shots=50).sample(4, seed=11)
    gap = np.max(np.abs(
        meta.adapt_and_predict(task["support_x"], task["support_y"], task["query_x"], 10) -
        reloaded.adapt_and_predict(task["support_x"], task["support_y"], task["query_x"], 10)))
    print(f"saved {path.name}; reloaded MetaLearner adapts to the same predictions "
          f"(max |diff| {gap:.1e})")


def _mean_and_error(values):
    return f"{values.mean():.2f} ± {values.std() / np.sqrt(len(values)):.2f}"


def plot(learners, curves):
    figure, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for name in learners:
        axes[0].plot(range(MAX_STEPS + 1), curves[name, 10].mean(axis=1), marker="o",
                     markersize=3, label=name)
    axes[0].set(xlabel="inner gradient steps", ylabel="query MSE", yscale="log",
                title=f"adaptation on held-out tasks (K=10, {TEST_TASKS} tasks)")
    axes[0].legend(fontsize=8)
    family = tasks.Sinusoid(shots=10)
    grid = np.linspace(-5, 5, 200, dtype=np.float32)[:, None]
    for axis, seed in zip(axes[1:], (7, 8)):
        rng = np.random.default_rng(seed)
        amplitude, phase = family.sample_function(rng)
        task = family.task(rng, amplitude, phase)
        axis.plot(grid, family.function(grid, amplitude, phase), "k", lw=2, label="true")
        axis.scatter(task["support_x"], task["support_y"], c="k", zorder=5, label="K=10 support")
        for name in ("maml", "metasgd", "anil", "scratch"):
            adapted = learners[name].adapt(task["support_x"], task["support_y"], steps=10)
            axis.plot(grid, adapted(grid), label=f"{name}, 10 steps")
        axis.set(xlabel="x", ylabel="y", title=f"A = {amplitude:.2f}, φ = {phase:.2f}")
    axes[2].legend(fontsize=8)
    figure.tight_layout()
    write_atomically(lambda staging: figure.savefig(staging, dpi=120),
                     OUTPUT / "few_shot_sinusoid.png")


if __name__ == "__main__":
    main()

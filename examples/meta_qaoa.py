"""Meta-learned QAOA initialization for MaxCut on random 3-regular graphs.

The task family is MaxCut on uniformly random 3-regular graphs with 8 nodes
(``tasks.MaxCut``); one circuit, ``circuits.qaoa_ansatz(8, p)``, serves every graph, reading
its edges as features, and the loss is the graph's energy ``Σ_(i,j)∈E Z_i Z_j / 2``
(``Energy``), so the approximation ratio is ``(|E|/2 − E) / max cut``. For p = 1 and p = 2,
MAML meta-learns the angles ``gamma{l}, beta{l}`` from which a few energy-descent steps adapt to
a new graph: each meta-step draws 16 fresh random graphs. On 50 held-out graphs the script
reports the approximation ratio after 0 to 20 steps of the inner loop, against:

- random: the circuit from a random initialization (the PQC's default, angles uniform in
  [0, 2π); mean over 5 draws);
- fixed angles: the angles that maximize the ratio on 3-regular graphs of large girth,
  p = 1: γ = atan(1/√2), β = π/8 (ratio ≥ 0.6925 on every 3-regular graph; Farhi et al. 2014),
  p = 2: the "fixed angle conjecture" angles of Wurtz & Lykov (2021, arXiv:2107.00677), in this
  library's convention (checked: 0.7559 of the edges of a girth-6 graph are cut, see
  tests/test_hamiltonian_ansatzes.py);
- per-graph optimum (p = 1): each held-out graph's own angles, optimized to convergence.

The baselines of a given p adapt with the inner loop meta-learned beside the initialization
(its learned step sizes), so they differ from the meta-learned row only in where they start.

FOMAML, Meta-SGD (with the same option) and Reptile (defaults) are shown at p = 1 too.

MAML here uses the library's defaults plus one option, ``multi_step_loss_initial=True``: the
multi-step loss then also weighs the energy of the initialization itself. Plain MAML (the row
"maml, defaults") descends only the energies after 1 … 5 steps. From anywhere near the optimum
one step reaches each graph's optimum, so those energies hardly depend on the starting angles,
and nothing draws the initialization itself to the best zero-step angles: plain MAML settles on
angles from which one step lands on the optimum but which are 0.02 below the fixed angles (it
stays there with more meta-steps, one inner step, or fixed inner rates). Weighing step 0 too
makes the initialization a good zero-shot guess that the steps still improve.

Run:  python examples/meta_qaoa.py        (about 8 minutes on 2 cores)
Writes examples/output/meta_qaoa.png (approximation ratio against steps).
"""
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

from tfq_meta import Energy, MetaLearner, circuits, models, tasks  # noqa: E402
from tfq_meta.saving import write_atomically  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OUTPUT = Path(__file__).parent / "output"
N_NODES, TEST_GRAPHS, MAX_STEPS = 8, 50, 20
META_BATCH, META_STEPS = 16, 300
RANDOM_DRAWS, OPTIMUM_STEPS = 5, 100
COLUMNS = (0, 1, 2, 5, 10, 20)
# Fixed angles (γ_1 … γ_p, β_1 … β_p) for 3-regular graphs, in qaoa_ansatz's convention
# exp(-iβ Σ X) exp(-iγ C). p = 2: Wurtz & Lykov's full-precision values, mapped by the
# symmetries of odd-degree graphs (γ → γ + π with β → −β, β → β + π/2) to
# (0.488, 0.898; 0.555, 0.293) as printed in their paper.
FIXED_ANGLES = {1: ([np.arctan(1 / np.sqrt(2))], [np.pi / 8]),
                2: ([0.48788735, 0.89775859], [0.55475546, 0.29225740])}
TREE_RATIOS = {1: 0.6925, 2: 0.7559}  # their guaranteed ratio on 3-regular graphs of large girth


def qaoa_model(p, seed=0):
    keras.utils.set_random_seed(seed)
    return models.energy_model(circuits.qaoa_ansatz(N_NODES, p=p), family())


def family():
    return tasks.MaxCut(n_nodes=N_NODES, graph="3-regular")


def meta_train(p, held_out, algorithm="maml", **options):
    meta = MetaLearner(qaoa_model(p), algorithm, **options)
    meta.compile(loss=Energy())
    label = ", ".join(f"{k}={v}" for k, v in options.items()) or "library defaults"
    print(f"\nmeta-training p={p} {algorithm} ({label}): {META_STEPS} meta-steps of {META_BATCH} "
          f"random graphs, {meta.inner_steps} inner steps", flush=True)
    start = time.time()
    for part in range(4):  # four fits, for progress lines
        meta.fit(family().episodes(META_BATCH, seed=p, start=part * META_STEPS // 4), epochs=1,
                 steps_per_epoch=META_STEPS // 4, verbose=0)
        ratios = held_out.curve(meta, 5).mean(axis=1)
        print(f"  {(part + 1) * META_STEPS // 4:4d} meta-steps, {time.time() - start:4.0f} s: "
              f"angles {_angle_text(meta.model)}; held-out ratio {ratios[0]:.4f} at 0 steps, "
              f"{ratios[5]:.4f} at 5", flush=True)
    return meta


def adapter(model, trained):
    """A MetaLearner used only for its inner loop: ``trained``'s, with its learned step sizes."""
    learner = MetaLearner(model, "maml", inner_steps=trained.inner_steps)
    learner.compile(loss=Energy())
    learner.inner_rates.set_weights(trained.inner_rates.get_weights())
    return learner


def fixed_angle_model(p):
    model = qaoa_model(p)
    gammas, betas = FIXED_ANGLES[p]
    set_angles(model, gammas, betas)
    return model


def set_angles(model, gammas, betas):
    layer = model.get_layer("circuit")
    values = {**{f"gamma{layer_index}": g for layer_index, g in enumerate(gammas)},
              **{f"beta{layer_index}": b for layer_index, b in enumerate(betas)}}
    layer.circuit_weights.assign(np.array([values[str(s)] for s in layer.weight_symbols],
                                          np.float32))


def angles_of(model):
    layer = model.get_layer("circuit")
    return dict(zip(map(str, layer.weight_symbols), layer.circuit_weights.numpy()))


def _angle_text(model):
    return ", ".join(f"{k} {v:.3f}" for k, v in angles_of(model).items())


class HeldOut:
    """The held-out graphs as one episode (x = edges, y = energy coefficients), and their
    approximation ratios from energies."""

    def __init__(self):
        self.family = family()
        self.graphs = self.family.sample_parameters(TEST_GRAPHS, seed=2026)
        self.episode = self.family.episode(self.graphs)
        self.max_cuts = np.array([self.family.max_cut(g) for g in self.graphs], np.float64)
        # |E| / 2: the coefficients of a graph's energy are 1/2 per edge.
        self.half_edges = self.episode["support_y"][:, 0].sum(axis=1).astype(np.float64)

    def ratios(self, energies):
        """``[..., graphs]`` energies → approximation ratios."""
        return (self.half_edges - energies) / self.max_cuts

    def curve(self, learner, steps=MAX_STEPS):
        """``[steps + 1, graphs]`` ratios after 0 … steps inner steps."""
        return self.ratios(learner.adaptation_losses(self.episode, steps))


def per_graph_optimum(held_out, meta):
    """Each graph's p = 1 ratio at its own optimized angles: ``OPTIMUM_STEPS`` steps of the
    meta-learned inner loop (safeguarded past the trained steps) from the fixed angles and from
    the meta-learned ones, the better per graph; and the largest change of a graph's ratio over
    the last half of the steps."""
    best, drift = np.zeros(TEST_GRAPHS), 0.0
    for model in (fixed_angle_model(1), meta.model):
        curve = held_out.curve(adapter(model, meta), OPTIMUM_STEPS)
        best = np.maximum(best, curve[-1])
        drift = max(drift, np.max(np.abs(curve[-1] - curve[OPTIMUM_STEPS // 2])))
    return best, drift


def main():
    OUTPUT.mkdir(exist_ok=True)
    start = time.time()
    held_out = HeldOut()
    print(f"{TEST_GRAPHS} held-out 8-node 3-regular graphs; mean max cut "
          f"{held_out.max_cuts.mean():.2f} of {2 * held_out.half_edges.mean():.0f} edges")
    curves = {}
    learners = {(1, "maml, defaults"): meta_train(1, held_out),
                (1, "maml + initial loss"): meta_train(1, held_out, multi_step_loss_initial=True),
                (2, "maml + initial loss"): meta_train(2, held_out, multi_step_loss_initial=True)}
    for algorithm in ("fomaml", "metasgd"):
        learners[1, f"{algorithm} + initial loss"] = meta_train(
            1, held_out, algorithm, multi_step_loss_initial=True)
    learners[1, "reptile, defaults"] = meta_train(1, held_out, "reptile")
    print("\nadaptation curves on the held-out graphs", flush=True)
    for (p, name), learner in learners.items():
        curves[p, name] = held_out.curve(learner)
    for p in (1, 2):
        meta = learners[p, "maml + initial loss"]
        curves[p, "random"] = np.mean([
            held_out.curve(adapter(qaoa_model(p, seed=100 + draw), meta))
            for draw in range(RANDOM_DRAWS)], axis=0)
        curves[p, "fixed angles"] = held_out.curve(adapter(fixed_angle_model(p), meta))
    print("per-graph optimization of the p=1 angles", flush=True)
    optimum, drift = per_graph_optimum(held_out, learners[1, "maml + initial loss"])
    print_table(curves, optimum, drift)
    print_angles(learners)
    print_goals(curves, optimum)
    plot(curves, optimum)
    print(f"\nplot: {OUTPUT / 'meta_qaoa.png'}")
    print(f"total time {time.time() - start:.0f} s")


def print_table(curves, optimum, drift):
    print(f"\napproximation ratio ⟨cut⟩ / max cut on {TEST_GRAPHS} held-out graphs after k inner "
          "steps (mean ± standard error)\n")
    print("| p | initialization | " + " | ".join(f"k={k}" for k in COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for (p, name), curve in curves.items():
        print(f"| {p} | {name} | " + " | ".join(_mean_and_error(curve[k]) for k in COLUMNS) + " |")
    print(f"| 1 | per-graph optimum | {_mean_and_error(optimum)} (each graph's own angles; "
          f"largest change over the last {OPTIMUM_STEPS - OPTIMUM_STEPS // 2} of "
          f"{OPTIMUM_STEPS} steps {drift:.1e}) |")


def print_angles(learners):
    print("\nmeta-learned angles (for p = 1 also their equivalent with γ in [0, π/2]: on graphs "
          "whose degrees are all odd, (γ, β) ≡ (γ + π, −β) ≡ (π − γ, β) ≡ (γ, β + π/2)):")
    for (p, name), learner in learners.items():
        text = _angle_text(learner.model)
        if p == 1:
            gamma, beta = _equivalent_p1_angles(**angles_of(learner.model))
            text += (f"  ≡ γ {gamma:.3f}, β {beta:.3f} (fixed angles: "
                     f"{FIXED_ANGLES[1][0][0]:.3f}, {FIXED_ANGLES[1][1][0]:.3f})")
        print(f"  p={p} {name:20} {text}")


def _equivalent_p1_angles(gamma0, beta0):
    turns, gamma = divmod(float(gamma0), np.pi)
    beta = -beta0 if int(turns) % 2 else beta0
    if gamma > np.pi / 2:
        gamma = np.pi - gamma
    return gamma, beta % (np.pi / 2)


def print_goals(curves, optimum):
    """The QAOA goals of issue 15, each with its measured value."""
    mean = {key: curve.mean(axis=1) for key, curve in curves.items()}
    meta, fixed = mean[1, "maml + initial loss"], mean[1, "fixed angles"][0]
    checks = [
        ("p=1 fixed angles: ratio ≥ 0.6925", fixed, 0.6925, ">="),
        ("p=2 fixed angles beat p=1 fixed angles", mean[2, "fixed angles"][0], fixed, ">"),
        ("p=1 meta, 0 steps: |ratio − fixed angles| ≤ 0.01", abs(meta[0] - fixed), 0.01, "<="),
        ("p=1 meta, 5 steps: ratio > fixed angles", meta[5], fixed, ">"),
        ("p=1 meta, 5 steps: ≥ 0.98 × per-graph optimum", meta[5] / optimum.mean(), 0.98, ">="),
        ("p=2 meta, 5 steps: ratio > p=2 fixed angles", mean[2, "maml + initial loss"][5],
         mean[2, "fixed angles"][0], ">"),
    ]
    print("\ngoals:")
    for text, value, bound, relation in checks:
        met = {">=": value >= bound, ">": value > bound, "<=": value <= bound}[relation]
        print(f"  {'met ' if met else 'MISS'}  {text:52} {value:.4f} {relation} {bound:.4f}")
    print(f"  (plain MAML, library defaults: 0 steps {mean[1, 'maml, defaults'][0]:.4f}, "
          f"{fixed - mean[1, 'maml, defaults'][0]:+.4f} from the fixed angles)")


def _mean_and_error(values):
    return f"{values.mean():.4f} ± {values.std() / np.sqrt(len(values)):.4f}"


def plot(curves, optimum):
    """Ratio against steps for p = 1 and 2: the whole range (top) and close up (bottom)."""
    colors = {"maml, defaults": "C7", "maml + initial loss": "C0", "random": "C2",
              "fixed angles": "C3", "fomaml + initial loss": "C1", "metasgd + initial loss": "C4",
              "reptile, defaults": "C5"}
    figure, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    for column, p in enumerate((1, 2)):
        means = {name: curve.mean(axis=1) for (curve_p, name), curve in curves.items()
                 if curve_p == p}
        tops = [mean for name, mean in means.items() if name != "random"]
        close_up = (min(mean[0] for mean in tops) - 0.005, max(mean.max() for mean in tops) + 0.003)
        for axis, ylim in zip(axes[:, column], (None, close_up)):
            for name, mean in means.items():
                axis.plot(range(MAX_STEPS + 1), mean, marker="o", markersize=3, label=name,
                          color=colors[name])
            if p == 1:
                axis.axhline(optimum.mean(), color="k", ls="--", lw=1, label="per-graph optimum")
            axis.set(xlabel="inner gradient steps", ylabel="approximation ratio", ylim=ylim,
                     xticks=range(0, MAX_STEPS + 1, 5),
                     title=f"p = {p}: {TEST_GRAPHS} held-out 8-node 3-regular graphs"
                     + (" (close up)" if ylim else ""))
            axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    write_atomically(lambda staging: figure.savefig(staging, dpi=120),
                     OUTPUT / "meta_qaoa.png")


if __name__ == "__main__":
    main()

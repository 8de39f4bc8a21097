"""Every Python snippet of README.md runs as written, and what it computes is checked.

Each snippet runs with the variables it assumes (``x_train``, ``teacher``, …) made small, and with
its training lengths shortened by named substitutions that must each match the README's text,
so a snippet that changes fails here until its case is updated. The checks use independent
oracles: Cirq's simulation, exact ground energies, scikit-learn on the same Gram matrices, and
the in-memory models against what was saved.
"""
import dataclasses
import json
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import cirq_expectations, run_fresh_python

README = Path(__file__).resolve().parents[1] / "README.md"


def snippets():
    """``{section heading: code}`` of the README's Python blocks."""
    found, heading, code = {}, None, None
    for line in README.read_text().splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
        elif line.strip() == "```python":
            code = []
        elif line.strip() == "```" and code is not None:
            assert heading not in found, f"two Python snippets under {heading!r}"
            found[heading], code = "\n".join(code) + "\n", None
        elif code is not None:
            code.append(line)
    return found


@dataclasses.dataclass
class Case:
    """How a snippet runs: ``setup`` code defining what it assumes, ``shorter`` text
    substitutions ``{README text: replacement}``, and ``check(namespace)`` after it ran."""

    check: Callable
    setup: str = ""
    shorter: dict = dataclasses.field(default_factory=dict)
    fresh_process: bool = False


def prepared(heading, case):
    code = snippets()[heading]
    for text, replacement in case.shorter.items():
        assert text in code, f"README's {heading!r} snippet no longer has {text!r}"
        code = code.replace(text, replacement)
    return case.setup + code


# ------------------------------------------------------------------------------------- checks

def check_quickstart(namespace):
    np.random.seed(0)  # the snippet's first draw: the layer's features
    features = np.random.rand(8, 2).astype("float32")
    layer = namespace["layer"]
    np.testing.assert_allclose(namespace["y"].numpy(), cirq_expectations(layer, features),
                               atol=1e-5)
    student, x = namespace["student"], namespace["x"]
    reloaded = keras.models.load_model("student.keras")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), student.predict(x, verbose=0),
                               atol=1e-6)
    served = tf.saved_model.load("student_savedmodel")
    np.testing.assert_allclose(served.serve(tf.constant(x)).numpy(),
                               student.predict(x, verbose=0), atol=1e-6)


def check_backups(directory):
    """Two epochs with ``double_checkpoint``: the backup of epoch 1 kept beside that of epoch 2,
    and the previous one is what a restart falls back on when the latest does not load."""
    backup = directory / "backup"
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 2
    assert json.loads((backup / "training_metadata.json.bkp").read_text())["epoch"] == 1
    assert (backup / "latest.weights.h5.bkp").stat().st_size > 0


def check_cirq_backends(namespace):
    import cirq

    x, exact, noisy = namespace["x"], namespace["exact"], namespace["noisy"]
    np.testing.assert_allclose(namespace["y_exact"].numpy(), cirq_expectations(exact, x),
                               atol=1e-5)
    # One Pauli term: shot noise sqrt((1 - E²) / 1000) around the density-matrix oracle.
    expected = cirq_expectations(noisy, x, noise=cirq.depolarize(0.01))
    sigma = np.sqrt((1 - expected ** 2) / 1000)
    assert np.all(np.abs(namespace["y_noisy"].numpy() - expected) <= 5 * sigma)


def check_meta_learning(namespace):
    meta, adapted, task = namespace["meta"], namespace["adapted"], namespace["task"]
    support_x, support_y = task["support_x"][0], task["support_y"][0]

    def support_loss(model):
        return float(np.mean((model.predict(support_x, verbose=0) - support_y) ** 2))

    assert isinstance(adapted, keras.Model)
    # Safeguarded steps never raise the support loss; ten of them lower it.
    assert support_loss(adapted) < support_loss(meta.model)


def check_quantum_tasks(namespace):
    family, deltas = namespace["family"], namespace["deltas"]
    ground = np.array([family.ground_energy(d) for d in deltas])
    # The variational principle against exact diagonalization: no state is below the ground.
    assert namespace["errors"].shape == (20,)
    assert np.all(namespace["errors"] > -1e-4)
    energies = namespace["energies"].numpy() if hasattr(namespace["energies"], "numpy") \
        else np.asarray(namespace["energies"])
    assert energies.shape == (3, 20)
    assert np.all(energies > ground - 1e-4)


def check_distillation(namespace):
    student, x = namespace["distiller"].student, namespace["x"]
    reloaded = keras.models.load_model("student.keras")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), student.predict(x, verbose=0),
                               atol=1e-6)
    assert not any(layer.name == namespace["teacher"].name for layer in reloaded.layers)


def check_search(namespace):
    best, tuner = namespace["best"], namespace["tuner"]
    score = tuner.oracle.get_best_trials(1)[0].score
    loss = best.evaluate(namespace["x_val"], namespace["y_val"], verbose=0)
    loss = loss[0] if isinstance(loss, list) else loss
    np.testing.assert_allclose(loss, score, rtol=1e-4)
    for hypermodel in ("meta", "distill"):
        assert namespace[hypermodel].objective is not None


def check_kernels(namespace):
    from sklearn.svm import SVC

    # The Gram matrices of the kernel as QSVC used it, before the alignment trained it.
    oracle = SVC(kernel="precomputed", C=10.0).fit(namespace["gram_train"], namespace["y_train"])
    assert namespace["accuracy"] == pytest.approx(
        oracle.score(namespace["gram_test"], namespace["y_test"]))
    assert int(namespace["learner"].optimizer.iterations) == 2


def check_export(namespace):
    meta, x = namespace["meta"], namespace["x"]
    expected = meta.model.predict(x, verbose=0)
    np.testing.assert_allclose(namespace["served"].serve(x), expected, atol=1e-6)
    np.testing.assert_allclose(namespace["loaded"].serve(tf.constant(x)).numpy(), expected,
                               atol=1e-6)
    adapted = meta.adapt(namespace["support_x"], namespace["support_y"])
    np.testing.assert_allclose(
        namespace["served"].adapt_and_predict(namespace["support_x"], namespace["support_y"],
                                              namespace["query_x"]),
        adapted.predict(namespace["query_x"], verbose=0), atol=1e-5)


def check_circuits_out(namespace):
    # Cirq's expectations of the resolved circuit, through the trained readout, are the model's
    # prediction.
    student, x = namespace["student"], namespace["x"]
    expectations = np.real([namespace["expectations"]]).astype("float32")
    np.testing.assert_allclose(namespace["readout"](expectations).numpy(),
                               student.predict(x[:1], verbose=0), atol=1e-5)
    assert "OPENQASM 2.0;" in namespace["resolved"].to_qasm()[0]


# -------------------------------------------------------------------------------------- cases

CLASSIFICATION_DATA = """
import numpy as np, tfq_meta
rng = np.random.default_rng(0)
x = rng.uniform(0, np.pi, (20, 8)).astype("float32")
y = rng.integers(0, 5, 20)
labeled = (np.arange(20) < 10).astype("float32")
x_transfer = x
"""

CASES = {
    "Quickstart": Case(check_quickstart),
    "Cirq backends": Case(check_cirq_backends),
    "Meta-learning": Case(
        check_meta_learning,
        shorter={"epochs=4, steps_per_epoch=150": "epochs=1, steps_per_epoch=2",
                 "n_episodes=4": "n_episodes=1"}),
    "Quantum tasks: Hamiltonians whose energy is the loss": Case(
        check_quantum_tasks,
        # XLA compiles this 8-qubit circuit's MAML step in about 90 s on 2 cores (the README
        # says so); the executor runs it, and XLA's MAML is tested on small circuits elsewhere.
        shorter={"epochs=400": "epochs=2", "steps_per_epoch=100": "steps_per_epoch=1",
                 "steps=20": "steps=2",
                 "meta.compile(loss=tfq_meta.Energy())":
                     "meta.compile(loss=tfq_meta.Energy(), jit_compile=False)"}),
    "Distillation": Case(check_distillation, setup=CLASSIFICATION_DATA),
    "Hyperparameter search": Case(
        check_search,
        setup="""
import numpy as np, tfq_meta
rng = np.random.default_rng(0)
x_train = rng.uniform(-3, 3, (24, 1)).astype("float32"); y_train = np.sin(x_train)
x_val = rng.uniform(-3, 3, (8, 1)).astype("float32"); y_val = np.sin(x_val)
teacher = tfq_meta.models.teacher(8, n_outputs=5, task="classification", n_qubits=2, n_layers=1)
""",
        shorter={"max_epochs=20": "max_epochs=2"}),
    "Distributed training": Case(
        check_backups, fresh_process=True,
        shorter={"epochs=4, steps_per_epoch=150": "epochs=2, steps_per_epoch=1",
                 'BackupAndRestore("backup", double_checkpoint=True)':
                     'BackupAndRestore("backup", double_checkpoint=True, '
                     'delete_checkpoint=False)'}),
    "Quantum kernels": Case(
        check_kernels,
        setup="""
import numpy as np
from tfq_meta import tasks
rng = np.random.default_rng(0)
x_train = rng.uniform(0, np.pi, (12, 16)).astype("float32"); y_train = np.arange(12) % 2
x_test = rng.uniform(0, np.pi, (6, 16)).astype("float32"); y_test = np.arange(6) % 2
family = tasks.FewShotClassification(rng.uniform(0, np.pi, (40, 16)).astype("float32"),
                                     np.arange(40) % 4, n_ways=2, shots=2)
""",
        shorter={"epochs=20": "epochs=1", "steps_per_epoch=150": "steps_per_epoch=2",
                 "aligner = KernelAlignment(kernel)":
                     "gram_train = kernel.gram(x_train, x_train)\n"
                     "gram_test = kernel.gram(x_test, x_train)\n"
                     "aligner = KernelAlignment(kernel)"}),
    "Trained circuits out": Case(check_circuits_out, shorter={"epochs=5": "epochs=1"}),
    "Export and serving": Case(
        check_export,
        setup="""
import keras, numpy as np, tfq_meta
from tfq_meta import tasks
keras.utils.set_random_seed(0)
meta = tfq_meta.MetaLearner(tfq_meta.models.student(n_features=1, n_qubits=2, n_layers=1),
                            inner_steps=2)
meta.compile(loss="mse", jit_compile=False)
meta.fit(tasks.Sinusoid(shots=5).episodes(4, seed=0), epochs=1, steps_per_epoch=1, verbose=0)
task = tasks.Sinusoid(shots=5).sample(1, seed=3)
support_x, support_y, query_x = task["support_x"][0], task["support_y"][0], task["query_x"][0]
x = query_x
"""),
}


def test_every_snippet_has_a_case():
    assert sorted(snippets()) == sorted(CASES)


@pytest.mark.parametrize("heading", sorted(CASES))
def test_readme_snippet(heading, tmp_path, monkeypatch):
    case = CASES[heading]
    code = prepared(heading, case)
    monkeypatch.chdir(tmp_path)
    if case.fresh_process:
        # It creates a tf.distribute strategy before TensorFlow's runtime starts.
        counted = "\nprint('iterations', int(meta.optimizer.iterations.numpy()))"
        result = run_fresh_python(code + counted, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.strip().splitlines()[-1] == "iterations 2"
        case.check(tmp_path)
        return
    keras.utils.set_random_seed(0)
    np.random.seed(0)
    namespace = {}
    exec(compile(code, f"README.md: {heading}", "exec"), namespace)
    case.check(namespace)


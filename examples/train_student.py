"""End to end: build a quantum student, train it with `fit`, save it, export and serve it.

A 4-qubit re-uploading student learns y = 2.5 sin(x + 0.8) + 0.5 cos(2x) on x in [-pi, pi]
(amplitudes beyond the [-1, 1] range of expectation values: the classical readout scales them).
The script then saves a `.keras` file, exports a SavedModel, reloads it in a fresh Python process
that only imports tfq_meta, and checks the served predictions equal the in-memory model's.

Run:  python examples/train_student.py            (about a minute on 2 cores)
Writes examples/output/train_student.png and the saved models next to it.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

import tfq_meta  # noqa: E402
from tfq_meta.saving import write_atomically  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OUTPUT = Path(__file__).parent / "output"


def target(x):
    return 2.5 * np.sin(x + 0.8) + 0.5 * np.cos(2 * x)


def main():
    OUTPUT.mkdir(exist_ok=True)
    keras.utils.set_random_seed(0)
    x_train = np.random.default_rng(0).uniform(-np.pi, np.pi, (200, 1)).astype(np.float32)
    x_test = np.linspace(-np.pi, np.pi, 100, dtype=np.float32)[:, None]

    model = tfq_meta.models.student(n_features=1, n_qubits=4, n_layers=2)
    print("student:", tfq_meta.models.circuit_summary(model))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    history = model.fit(x_train, target(x_train), batch_size=25, epochs=60, verbose=2)
    test_mse = float(model.evaluate(x_test, target(x_test), verbose=0))
    print(f"test MSE {test_mse:.4f} (variance of the target: {np.var(target(x_test)):.3f})")

    keras_path, export_path = OUTPUT / "student.keras", OUTPUT / "student_savedmodel"
    tfq_meta.save_model(model, keras_path)   # atomic: a killed save keeps the previous file
    reloaded = keras.models.load_model(keras_path)
    predictions = model.predict(x_test, verbose=0)
    keras_gap = np.max(np.abs(reloaded.predict(x_test, verbose=0) - predictions))
    tfq_meta.export.export(model, export_path, overwrite=True, verbose=False)   # atomic too
    served = serve_in_fresh_process(export_path, x_test)
    served_gap = np.max(np.abs(served - predictions))
    print(f".keras reload max |diff| = {keras_gap:.2e}; SavedModel in a fresh process "
          f"max |diff| = {served_gap:.2e}")

    plot(x_train, x_test, model.predict(x_test, verbose=0), history.history["loss"])
    print(f"plot: {OUTPUT / 'train_student.png'}")


def serve_in_fresh_process(export_path, x):
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np, tensorflow as tf
        import tfq_meta  # registers TFQ's ops for the loader
        served = tf.saved_model.load({str(export_path)!r})
        x = np.array(json.loads(sys.stdin.read()), np.float32)
        print(json.dumps(served.serve(x).numpy().tolist()))
    """)
    result = subprocess.run([sys.executable, "-c", script], input=json.dumps(x.tolist()),
                            capture_output=True, text=True, check=True)
    return np.array(json.loads(result.stdout.strip().splitlines()[-1]))


def plot(x_train, x_test, predictions, losses):
    figure, (fit_axis, loss_axis) = plt.subplots(1, 2, figsize=(10, 4))
    fit_axis.scatter(x_train, target(x_train), s=8, alpha=0.4, label="training data")
    fit_axis.plot(x_test, target(x_test), "k--", label="target")
    fit_axis.plot(x_test, predictions, "C3", label="quantum student")
    fit_axis.set(xlabel="x", ylabel="y", title="4-qubit re-uploading student")
    fit_axis.legend()
    loss_axis.semilogy(losses)
    loss_axis.set(xlabel="epoch", ylabel="training MSE", title="training curve")
    figure.tight_layout()
    write_atomically(lambda staging: figure.savefig(staging, dpi=120),
                     OUTPUT / "train_student.png")


if __name__ == "__main__":
    main()

"""Writes that never lose the previous file: Keras models, checkpoints, SavedModels, reports.

Keras' ``model.save`` and ``save_weights`` truncate the file and write it in place, so a process
killed mid-write (a preempted job, a SIGKILL) leaves a file that no longer loads, and the previous
checkpoint is gone. Every tfq_meta write goes through :func:`write_atomically` instead: the data
is written to a temporary sibling of the target (same directory, so same filesystem) and then
renamed onto it, which is atomic. The target always holds the old content or the new, whole.

* :func:`save_model`: ``model.save`` / ``model.save_weights`` as one atomic write;
* :class:`Checkpoint`: a Keras callback that saves with it every epoch or every N batches.

A write killed midway may leave its temporary sibling (a hidden ``.<name>.…`` file) behind; the
target itself is never touched until the new file is complete.

Example:
>>> import tempfile, os, keras, tfq_meta
>>> model = tfq_meta.models.student(n_features=1, n_qubits=2, n_layers=1)
>>> path = save_model(model, os.path.join(tempfile.mkdtemp(), "student.keras"))
>>> reloaded = keras.models.load_model(path)
"""
import os
import secrets
import shutil
import tempfile
from pathlib import Path

import keras

from tfq_meta._validation import check_bool

# What model.save and model.save_weights write, by the ending Keras requires of the path.
_FORMATS = {".keras": "model", ".weights.h5": "weights"}


def write_atomically(write, path, directory=False, recheck=None):
    """``write(staging)`` into a fresh sibling of ``path``, then renames it to ``path``.

    Args:
        write: called with the staging path (a ``str``), which it fills.
        path: the target, a ``pathlib.Path``; its parent directories are created.
        directory: whether the target is a directory (a SavedModel) rather than a file. The
            staging file ends like ``path`` (``….weights.h5``), as Keras checks endings.
        recheck: called between the write and the rename, e.g. to refuse a target that
            changed meanwhile.

    Returns:
        ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkstemp/mkdtemp: they create mode 0600/0700, which the renamed file would keep;
    # the writer creates it with the permissions any other save would give it.
    staging = path.with_name(f".{path.name}.tmp-{secrets.token_hex(6)}"
                             f"{'' if directory else ''.join(path.suffixes[-2:])}")
    if directory:
        staging.mkdir()
    try:
        write(str(staging))
        if recheck is not None:
            recheck()
        if directory:
            _rename_directory_into_place(staging, path)
        else:
            _flush_to_disk(staging)
            os.replace(staging, path)
    finally:
        # Only what this call created; already gone once renamed into place.
        if directory:
            shutil.rmtree(staging, ignore_errors=True)
        elif os.path.lexists(staging):
            os.remove(staging)
    return path


def as_path(value, argument):
    """``value`` as a ``pathlib.Path``, if it is a ``str`` or ``os.PathLike``, else raises a
    TypeError naming ``argument``."""
    if not isinstance(value, (str, os.PathLike)) or value == "":
        raise TypeError(f"`{argument}` must be a path (a non-empty str or pathlib.Path); got "
                        f"{value!r}.")
    return Path(value)


def prepare_directory(path, argument):
    """Creates the parent directories of ``path`` and checks that a file can be written there,
    so that an unwritable target fails before a slow save or trace, not after it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as error:
        where = f" ({error.filename})" if error.filename else ""
        raise ValueError(f"`{argument}` {str(path)!r} cannot be written: {error.strerror or error}"
                         f"{where}. Give a path in a writable directory.") from None


def _flush_to_disk(path):
    """So that a crash of the machine right after the rename cannot leave an empty file."""
    with open(path, "rb") as file:
        os.fsync(file.fileno())


def _rename_directory_into_place(staging, path):
    """Renames ``staging`` to ``path``. A rename cannot replace a non-empty directory, so an old
    one goes aside first, comes back if the new one cannot take its place, and is deleted only
    once it has."""
    if not os.path.lexists(path):
        os.rename(staging, path)
        return
    retired = staging.with_name(staging.name + ".old")
    os.rename(path, retired)
    try:
        os.rename(staging, path)
    except BaseException:
        os.rename(retired, path)
        raise
    shutil.rmtree(retired)


def save_model(model, filepath, overwrite=True):
    """Saves ``model`` to ``filepath`` so that a failed or killed save keeps the previous file.

    The same files as Keras' own ``model.save`` (a ``.keras`` path: the whole model) and
    ``model.save_weights`` (a ``.weights.h5`` path: the weights), loaded the same way
    (``keras.models.load_model``, ``model.load_weights``), for any Keras model: tfq_meta's
    models, ``MetaLearner``, ``Distiller``.

    Args:
        model: a ``keras.Model``.
        filepath: ``str`` or ``pathlib.Path`` ending in ``.keras`` or ``.weights.h5``.
        overwrite: replace an existing file; with False an existing ``filepath`` is a
            FileExistsError (Keras would ask on the terminal instead).

    Returns:
        ``filepath`` as a ``pathlib.Path``.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model; got {type(model).__name__}.")
    path, kind = _checked_path(filepath)
    check_bool(overwrite, "overwrite")
    if os.path.isdir(path):
        raise ValueError(f"`filepath` {str(path)!r} is a directory; it must name a file.")
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"`filepath` {str(path)!r} already exists; pass overwrite=True "
                              "to replace it.")
    prepare_directory(path, "filepath")
    save = model.save if kind == "model" else model.save_weights
    return write_atomically(lambda staging: save(staging, overwrite=True), path)


def _checked_path(filepath):
    path = as_path(filepath, "filepath")
    for ending, kind in _FORMATS.items():
        if path.name.endswith(ending) and path.name != ending:
            return path, kind
    raise ValueError(f"`filepath` must end in '.keras' (the whole model) or '.weights.h5' (its "
                     f"weights); got {str(filepath)!r}.")


class Checkpoint(keras.callbacks.Callback):
    """Saves the model during ``fit`` with :func:`save_model`: a run killed mid-save keeps the
    previous checkpoint, where ``keras.callbacks.ModelCheckpoint`` would leave a broken file.

    Args:
        filepath: a ``.keras`` or ``.weights.h5`` path; it may hold ``{epoch}`` and the names
            of logged metrics (``"ckpt-{epoch:03d}-{loss:.3f}.keras"``), as in ModelCheckpoint.
        save_freq: ``"epoch"`` (at the end of each) or a positive int, every that many batches.

    Example::

        meta.fit(episodes, epochs=10, steps_per_epoch=100,
                 callbacks=[tfq_meta.saving.Checkpoint("meta.weights.h5")])
    """

    def __init__(self, filepath, save_freq="epoch"):
        super().__init__()
        _checked_path(str(filepath).replace("{", "").replace("}", ""))
        self.filepath = os.fspath(filepath)
        if save_freq != "epoch" and (isinstance(save_freq, bool) or
                                     not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"`save_freq` must be 'epoch' or a positive int (batches); got "
                             f"{save_freq!r}.")
        self.save_freq = save_freq
        self._batches = 0
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, logs)

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches += 1
        if self._batches % self.save_freq == 0:
            self._save(self._epoch, logs)

    def _save(self, epoch, logs):
        try:
            path = self.filepath.format(epoch=epoch + 1, **(logs or {}))
        except KeyError as error:
            raise KeyError(f"`filepath` {self.filepath!r} names {error}, which is neither "
                           f"epoch nor a logged value ({sorted(logs or {})}).") from None
        save_model(self.model, path)

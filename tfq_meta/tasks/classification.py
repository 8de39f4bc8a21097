"""N-way K-shot classification from labeled arrays, with disjoint class splits."""
import math

import numpy as np

from tfq_meta._validation import check_finite_array, check_positive_int, is_finite_number
from tfq_meta.tasks.family import TaskFamily


class FewShotClassification(TaskFamily):
    """N-way K-shot tasks drawn from the examples of a set of classes.

    Each task picks ``n_ways`` of ``classes`` at random, relabels them ``0 … n_ways - 1`` in random
    order, and draws ``shots`` support and ``query_shots`` query examples of each class without
    overlap. Labels are int32 ``[tasks, n_ways * shots]``: use a sparse categorical loss.

    Args:
        x: features ``[examples, ...]``.
        y: integer class labels ``[examples]``.
        n_ways: classes per task (N).
        shots: support examples per class (K).
        query_shots: query examples per class; default ``shots``.
        classes: the classes tasks are drawn from (default: all classes of ``y``). Use disjoint
            class sets for meta-training, validation and test (see :meth:`split`).

    Example:
    >>> x = np.arange(40, dtype=float).reshape(20, 2); y = np.repeat(np.arange(5), 4)
    >>> tasks = FewShotClassification(x, y, n_ways=2, shots=1, query_shots=3)
    >>> episode = tasks.sample(n_tasks=8)
    >>> episode["support_x"].shape, episode["query_y"].shape, int(episode["query_y"].max())
    ((8, 2, 2), (8, 6), 1)
    """

    def __init__(self, x, y, n_ways, shots, query_shots=None, classes=None):
        x, y = check_finite_array(x, "x"), np.asarray(y)
        if x.ndim < 2:
            raise ValueError(f"`x` must be shaped [examples, features...]; got shape {x.shape}.")
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise ValueError(f"`y` must be integer class labels of shape [examples]; got dtype "
                             f"{y.dtype} and shape {y.shape}.")
        if len(x) != len(y):
            raise ValueError(f"`x` has {len(x)} examples but `y` has {len(y)} labels.")
        check_positive_int(n_ways, "n_ways")
        check_positive_int(shots, "shots")
        query_shots = shots if query_shots is None else query_shots
        check_positive_int(query_shots, "query_shots")
        classes = np.unique(y) if classes is None else _check_classes(classes)
        unknown = sorted(set(classes.tolist()) - set(y.tolist()))
        if unknown:
            raise ValueError(f"`classes` {unknown} have no examples in `y`.")
        if n_ways > len(classes):
            raise ValueError(f"`n_ways`={n_ways} is more than the {len(classes)} classes "
                             f"{classes.tolist()} tasks are drawn from.")
        needed = shots + query_shots
        too_small = [int(c) for c in classes if np.sum(y == c) < needed]
        if too_small:
            raise ValueError(f"Classes {too_small} have fewer than shots + query_shots = {needed} "
                             "examples.")
        self.x, self.y, self.classes = x, y, classes
        self.n_ways, self.shots, self.query_shots = n_ways, shots, query_shots
        self._indices = {int(c): np.flatnonzero(y == c) for c in classes}

    @classmethod
    def split(cls, x, y, n_ways, shots, query_shots=None, fractions=(0.6, 0.2, 0.2), seed=0):
        """Three families on disjoint classes: ``{"train", "validation", "test"}``.

        Args:
            fractions: shares of the classes for meta-training, validation and test; each split
                gets at least ``n_ways`` classes.
            seed: the random assignment of classes to splits.
        """
        classes = np.random.default_rng(seed).permutation(np.unique(np.asarray(y)))
        counts = _split_counts(len(classes), fractions, n_ways)
        bounds = np.cumsum([0] + counts)
        return {name: cls(x, y, n_ways, shots, query_shots, classes[lo:hi])
                for name, lo, hi in zip(("train", "validation", "test"), bounds[:-1], bounds[1:])}

    def sample_task(self, rng):
        chosen = rng.choice(self.classes, size=self.n_ways, replace=False)
        support, query = [], []
        for c in chosen:
            picked = rng.choice(self._indices[int(c)], size=self.shots + self.query_shots,
                                replace=False)
            support.append(picked[:self.shots])
            query.append(picked[self.shots:])
        labels = np.arange(self.n_ways)
        return {"support_x": self.x[np.concatenate(support)],
                "support_y": np.repeat(labels, self.shots),
                "query_x": self.x[np.concatenate(query)],
                "query_y": np.repeat(labels, self.query_shots)}


def digits(n_ways=2, shots=5, query_shots=None, n_features=4, fractions=(0.6, 0.2, 0.2), seed=0):
    """N-way K-shot tasks on scikit-learn's 8×8 digits, with disjoint class splits.

    The 64 pixels are reduced by PCA to ``n_features`` components, fitted on the meta-training
    classes only (no information from held-out classes), and scaled to angles in ``[0, π]``.

    Returns:
        dict ``{"train", "validation", "test"}`` of :class:`FewShotClassification`.

    Example:
    >>> splits = digits(n_ways=2, shots=3, n_features=4)
    >>> sorted(len(s.classes) for s in splits.values())
    [2, 2, 6]
    """
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import MinMaxScaler

    check_positive_int(n_features, "n_features")
    x, y = load_digits(return_X_y=True)
    if n_features > x.shape[1]:
        raise ValueError(f"`n_features` must be at most {x.shape[1]}, the pixels of an 8×8 digit "
                         f"(PCA components); got {n_features}.")
    splits = FewShotClassification.split(x, y, n_ways, shots, query_shots, fractions, seed)
    train = np.isin(y, splits["train"].classes)
    pca = PCA(n_components=n_features, random_state=seed).fit(x[train])
    scaler = MinMaxScaler((0.0, math.pi)).fit(pca.transform(x[train]))
    features = np.clip(scaler.transform(pca.transform(x)), 0.0, math.pi).astype(np.float32)
    return {name: FewShotClassification(features, y, n_ways, shots, query_shots, family.classes)
            for name, family in splits.items()}


def _check_classes(classes):
    """``classes`` as a sorted array of distinct ints: a class listed twice would let a task draw
    it for two of its labels."""
    values = list(classes) if isinstance(classes, (list, tuple, np.ndarray, range)) else None
    if values is None or not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool)
                                 for c in values):
        raise TypeError(f"`classes` must be a list of int class labels; got {classes!r}.")
    repeated = sorted({int(c) for c in values if values.count(c) > 1})
    if repeated:
        raise ValueError(f"`classes` must list each class once; {repeated} appear more than once.")
    return np.asarray(sorted(values))


def _split_counts(n_classes, fractions, n_ways):
    if not (isinstance(fractions, (list, tuple)) and len(fractions) == 3 and
            all(is_finite_number(f) for f in fractions) and min(fractions) > 0):
        raise ValueError(f"`fractions` must be three positive shares (train, validation, test); "
                         f"got {fractions!r}.")
    if n_classes < 3 * n_ways:
        raise ValueError(f"{n_classes} classes cannot form three disjoint splits of at least "
                         f"`n_ways`={n_ways} classes each.")
    total = float(sum(fractions))
    counts = [max(n_ways, int(round(n_classes * f / total))) for f in fractions[1:]]
    counts.insert(0, n_classes - sum(counts))
    if counts[0] < n_ways:
        raise ValueError(f"`fractions` {fractions!r} leave fewer than `n_ways`={n_ways} of the "
                         f"{n_classes} classes for meta-training.")
    return counts

"""QSVC: a support vector classifier on a quantum kernel, as a scikit-learn estimator."""
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted

from tfq_meta._validation import check_positive_float
from tfq_meta.circuits import angle_encoding
from tfq_meta.kernels.base import KernelLayer
from tfq_meta.kernels.quantum_kernel import QuantumKernel


class QSVC(ClassifierMixin, BaseEstimator):
    """``sklearn.svm.SVC(kernel="precomputed")`` on the Gram matrices of a quantum kernel.

    ``fit`` computes the train Gram matrix ``k(X, X)`` and fits the SVC on it; ``predict``,
    ``decision_function`` and ``score`` compute ``k(X_new, X_train)``. As a scikit-learn estimator
    it works in ``Pipeline`` (e.g. after a scaler that maps features to angles),
    ``GridSearchCV`` (over ``C`` or any kernel setting) and ``cross_val_score``; ``clone``
    copies the kernel with its weights.

    Args:
        kernel: a :class:`QuantumKernel` or :class:`ProjectedQuantumKernel` (trained or not);
            default the fidelity kernel of ``circuits.angle_encoding`` with one qubit per feature.
        C: the SVC's regularization parameter (positive).
        class_weight, tol, max_iter, random_state: passed to ``sklearn.svm.SVC``. (For
            probabilities, wrap the QSVC in ``sklearn.calibration.CalibratedClassifierCV``.)

    Attributes:
        svc_: the fitted ``SVC``; kernel_: the kernel used; classes_: the class labels.

    Example:
    >>> import numpy as np
    >>> x = np.array([[0.1, 0.2], [0.2, 0.1], [2.9, 3.0], [3.0, 2.8]], np.float32)
    >>> QSVC(C=10.0).fit(x, [0, 0, 1, 1]).predict([[0.0, 0.3], [2.8, 3.1]])
    array([0, 1])
    """

    def __init__(self, kernel=None, C=1.0, class_weight=None, tol=1e-3, max_iter=-1,
                 random_state=None):
        self.kernel = kernel
        self.C = C
        self.class_weight = class_weight
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state

    def __sklearn_clone__(self):
        # A trainable kernel draws its weights when it is first built: build it before copying,
        # so that every clone (one per cross-validation fold) has the same weights.
        if isinstance(self.kernel, KernelLayer) and not self.kernel.built:
            self.kernel.build()
        return super().__sklearn_clone__()

    def fit(self, X, y):
        # Checked before the Gram matrix, the costly part, which SVC would only check after.
        check_positive_float(self.C, "C")
        check_positive_float(self.tol, "tol")
        self.kernel_ = self._kernel(np.shape(X))
        self.X_fit_ = self.kernel_.check_features(X, "X").numpy()
        self.n_features_in_ = self.X_fit_.shape[1]
        self.svc_ = SVC(kernel="precomputed", C=self.C, class_weight=self.class_weight,
                        tol=self.tol, max_iter=self.max_iter, random_state=self.random_state)
        self.svc_.fit(self.kernel_.gram(self.X_fit_), y)
        self.classes_ = self.svc_.classes_
        return self

    def predict(self, X):
        gram = self._test_gram(X)
        return self.svc_.predict(gram)

    def decision_function(self, X):
        gram = self._test_gram(X)
        return self.svc_.decision_function(gram)

    def _test_gram(self, X):
        check_is_fitted(self, "svc_")
        return self.kernel_.gram(self.kernel_.check_features(X, "X").numpy(), self.X_fit_)

    def _kernel(self, shape):
        if self.kernel is None:
            if len(shape) != 2:
                raise ValueError(f"`X` must have shape [n_samples, n_features]; got shape "
                                 f"{list(shape)}.")
            return QuantumKernel(angle_encoding(shape[1]))
        if not isinstance(self.kernel, KernelLayer):
            raise TypeError("`kernel` must be a tfq_meta QuantumKernel or ProjectedQuantumKernel "
                            f"(or None for the default); got {type(self.kernel).__name__}.")
        return self.kernel

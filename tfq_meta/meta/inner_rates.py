"""The inner loop's step sizes: fixed, learned per weight group and step, or learned per weight."""
import keras
import numpy as np
import tensorflow as tf

from tfq_meta._compat.keras import flatten_layers
from tfq_meta.layers import PQC

KINDS = ("fixed", "per_group_and_step", "per_parameter")


class InnerRates(keras.layers.Layer):
    """Step sizes of the inner loop, one tensor per adapted variable and inner step.

    Kinds:

    - ``"fixed"``: ``inner_lr`` for every weight and step (plain MAML).
    - ``"per_group_and_step"``: a learned rate per weight group and inner step (LSLR, Antoniou et
      al. 2019), kept positive by learning its logarithm. A group is one variable (a Dense
      kernel, a bias), except that a PQC's weights form two: its rotation angles, and its input
      scales (weights that multiply a feature, see :attr:`PQC.input_scale_mask`), whose
      gradients are larger by the size of the features.
    - ``"per_parameter"``: a learned rate per weight, shared by all steps (Meta-SGD, Li et al.
      2017), unconstrained in sign as in the paper.

    Every rate starts at ``inner_lr``. Steps past ``inner_steps`` use the last step's rates.

    Args:
        model: the model whose variables are adapted.
        variables: the adapted variables.
        kind: one of ``KINDS``.
        inner_lr: the initial rate.
        inner_steps: inner steps trained (the rows of per-step rates).
    """

    def __init__(self, model, variables, kind, inner_lr, inner_steps, **kwargs):
        super().__init__(**kwargs)
        self.kind, self.inner_lr, self.inner_steps = kind, inner_lr, inner_steps
        self.group_names, self._group_index = _weight_groups(model, variables)
        if kind == "per_group_and_step":
            self.log_rates = self.add_weight(
                shape=(inner_steps, len(self.group_names)), name="log_inner_lr",
                initializer=keras.initializers.Constant(np.log(inner_lr)))
        self.per_parameter = [
            self.add_weight(shape=v.shape, initializer=keras.initializers.Constant(inner_lr),
                            name=f"inner_lr_{v.path.replace('/', '_')}")
            for v in variables] if kind == "per_parameter" else []
        self.built = True

    def for_step(self, step):
        """The rates of inner step ``step`` (0-based, an int or a scalar tensor): one per
        variable, each a float or a tensor broadcastable to ``[tasks, *variable.shape]``."""
        if self.kind == "fixed":
            return [self.inner_lr] * len(self._group_index)
        if self.kind == "per_parameter":
            return [tf.convert_to_tensor(rate) for rate in self.per_parameter]
        # A one-hot product, not a gather, so that the rates' gradient is a dense tensor.
        row = tf.one_hot(tf.minimum(step, self.inner_steps - 1), self.inner_steps,
                         dtype=self.log_rates.dtype)
        rates = tf.exp(tf.linalg.matvec(self.log_rates, row, transpose_a=True))
        return [tf.gather(rates, index) for index in self._group_index]

    def by_group(self):
        """The rates as NumPy: ``{group name: [rate of step 1, …]}`` for learned per-step rates;
        ``{variable path: rates}`` for per-parameter rates; ``{}`` for fixed ones."""
        if self.kind == "per_group_and_step":
            values = np.exp(keras.ops.convert_to_numpy(self.log_rates))
            return {name: values[:, g] for g, name in enumerate(self.group_names)}
        return {rate.path: keras.ops.convert_to_numpy(rate) for rate in self.per_parameter}


def _weight_groups(model, variables):
    """Group names, and for each variable an int array of its shape holding group indices."""
    scale_masks = {id(layer.circuit_weights): layer.input_scale_mask
                   for layer in flatten_layers(model) if isinstance(layer, PQC)}
    names, indices = [], []
    for variable in variables:
        path = variable.path.rsplit("/", 1)[0] if id(variable) in scale_masks else variable.path
        mask = scale_masks.get(id(variable))
        if mask is not None and mask.any() and not mask.all():
            names += [f"{path}/angles", f"{path}/input_scales"]
            indices.append(tf.constant(len(names) - 2 + mask.astype(np.int32)))
        else:
            names.append(variable.path)
            indices.append(tf.fill(variable.shape, len(names) - 1))
    return names, indices

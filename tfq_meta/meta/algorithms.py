"""The meta-learning algorithms: how each runs the two loops, and its defaults."""
import dataclasses


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """How one meta-learning algorithm runs the inner and outer loops, and the defaults of the
    MetaLearner options that depend on it (measured on the default student by
    ``examples/few_shot_sinusoid.py``)."""
    second_order: bool    # differentiate through the inner loop's gradients
    head_only: bool       # adapt only the head's weights in the inner loop
    learned_rates: bool   # per-parameter inner learning rates, meta-learned
    reptile: bool         # outer gradient θ − mean φ instead of the query-loss gradient
    inner_steps: int = 5
    # Learned rates start here. Reptile cannot learn its rates and moves too little at 0.1.
    inner_lr: float = 0.1
    # Meta-SGD's single step must scale with a task's error, which clipping would cap; its
    # learned per-weight rates keep that step stable.
    inner_clipnorm: float | None = 1.0


ALGORITHMS = {
    "maml": Algorithm(second_order=True, head_only=False, learned_rates=False, reptile=False),
    "fomaml": Algorithm(second_order=False, head_only=False, learned_rates=False, reptile=False),
    "reptile": Algorithm(second_order=False, head_only=False, learned_rates=False, reptile=True,
                         inner_lr=0.3),
    "metasgd": Algorithm(second_order=True, head_only=False, learned_rates=True, reptile=False,
                         inner_steps=1, inner_clipnorm=None),
    "anil": Algorithm(second_order=True, head_only=True, learned_rates=False, reptile=False),
}

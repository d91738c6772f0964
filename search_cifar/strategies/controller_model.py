"""The NASNet controller's math: an LSTM that samples categorical decisions.

A one-layer LSTM emits the decisions of a search space one after another
(Zoph & Le 2017; Zoph et al. 2018). Step 0 reads a learned "go" embedding;
step ``t > 0`` reads the embedding of the choice made at step ``t - 1``
(each decision has its own rows of one shared table). Decision ``t`` has its
own linear head of ``num_choices[t]`` logits, optionally divided by a
temperature and squashed as ``tanh_constant * tanh(logits)`` (ENAS,
``src/cifar10/micro_controller.py``).

This module holds no strategy bookkeeping and knows nothing of child networks.
The weights live in numpy (float32) and are passed to pure TensorFlow
functions, so that

* the state is a handful of arrays (exact JSON round trip as base64 float32
  bytes, see ``to_json``), restored bit for bit;
* the three ``tf.function`` s take the controller's shape as tensors and loop
  over decisions with a ``tf.while_loop``: they are traced once per process
  for every controller (a benchmark that builds 20 controllers traces once,
  not 20 times), and the graph does not grow with the number of decisions;
* sampling is deterministic given the uniforms: the caller draws them from a
  numpy ``Generator`` and the sampler inverts the softmax CDF (no TF random ops).

Adam (Kingma & Ba 2015) is the few lines in ``Adam`` below, in numpy, so that
its moments and step count are part of the same plain state.

Example:
    >>> c = Controller((5, 5, 3), units=16, rng=np.random.default_rng(0))
    >>> [(choices, log_prob)] = c.sample(np.random.default_rng(1))
    >>> lp, ent = c.log_probs_and_entropy([choices])
    >>> bool(np.isclose(lp[0], log_prob))
    True
"""

from __future__ import annotations

import base64
import math
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

# ENAS initialises every controller weight with U(-0.1, 0.1)
# (melodyguan/enas, src/cifar10/micro_controller.py, _create_params).
INIT_RANGE = 0.1

_WEIGHT_NAMES = ("embedding", "lstm_kernel", "lstm_bias", "head_kernel", "head_bias")


def weight_shapes(num_choices: Sequence[int], units: int) -> dict[str, tuple[int, ...]]:
    """Shapes of the controller weights.

    ``embedding`` [1 + sum(num_choices), units]: row 0 is the "go" input, then
    the rows of decision 0's choices, decision 1's, ...
    ``lstm_kernel`` [2 * units, 4 * units] acting on [input, h]; gates i, f, g, o.
    ``head_kernel`` [units, sum(num_choices)], ``head_bias`` [sum(num_choices)]:
    decision t's logits are the next ``num_choices[t]`` columns after decision t - 1's.
    """
    total = int(sum(num_choices))
    return {"embedding": (1 + total, units), "lstm_kernel": (2 * units, 4 * units),
            "lstm_bias": (4 * units,), "head_kernel": (units, total), "head_bias": (total,)}


def _layout(num_choices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-decision columns of the shared head, padded to the widest decision.

    Returns ``columns`` [T, max_choices] int32 (decision t's choice k is head
    column ``columns[t, k]`` and embedding row ``1 + columns[t, k]``, see
    ``weight_shapes``) and ``valid`` [T, max_choices] bool (False on padding).
    """
    widest = max(num_choices)
    columns = np.zeros([len(num_choices), widest], np.int32)
    valid = np.zeros([len(num_choices), widest], bool)
    offset = 0
    for t, n in enumerate(num_choices):
        columns[t, :n] = np.arange(offset, offset + n)
        valid[t, :n] = True
        offset += n
    return columns, valid


# The traced functions below take the controller's shape (units, decisions,
# choices) and its logit options as tensors: one trace per process serves every
# controller, and a tf.while_loop runs the T steps (the NASNet space has 40).
_W_SPECS = [tf.TensorSpec([None, None], tf.float32),  # embedding
            tf.TensorSpec([None, None], tf.float32),  # lstm_kernel
            tf.TensorSpec([None], tf.float32),        # lstm_bias
            tf.TensorSpec([None, None], tf.float32),  # head_kernel
            tf.TensorSpec([None], tf.float32)]        # head_bias
_LAYOUT_SPECS = [tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None, None], tf.bool),
                 tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.float32)]
_MASKED = -1e9  # logit of a padded choice: probability exactly 0 in float32


def _lstm_step(x, h, c, kernel, bias):
    """One LSTM step (gates i, f, g, o); x, h, c: [batch, units]."""
    z = tf.matmul(tf.concat([x, h], axis=1), kernel) + bias
    i, f, g, o = tf.split(z, 4, axis=1)
    c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
    h = tf.sigmoid(o) * tf.tanh(c)
    return h, c


def _step_log_probs(h, head_k, head_b, columns, valid, temperature, tanh_constant,
                    flatten=1.0):
    """log pi(. | h) for one decision: [batch, max_choices], 0 probability on padding.

    ENAS's logit options: divided by ``temperature`` (1: off), then
    ``tanh_constant * tanh(.)`` (0: off). ``flatten`` divides the final logits
    (sampling only: a flattened copy of the policy, see ``Controller.sample``).
    """
    logits = tf.matmul(h, tf.gather(head_k, columns, axis=1)) + tf.gather(head_b, columns)
    logits = logits / temperature
    logits = tf.where(tanh_constant > 0.0, tanh_constant * tf.tanh(logits), logits)
    logits = tf.where(valid[None, :], logits, _MASKED) / flatten
    return tf.nn.log_softmax(logits)


def _initial_state(emb, kernel, batch):
    units = tf.shape(kernel)[1] // 4
    x = tf.repeat(emb[0:1], batch, axis=0)
    return x, tf.zeros([batch, units]), tf.zeros([batch, units])


def _forward(weights, columns, valid, temperature, tanh_constant, choices):
    """Teacher-forced pass. choices [batch, T] int32 -> (log_prob [batch], entropy [batch])."""
    emb, kernel, bias, head_k, head_b = weights
    batch = tf.shape(choices)[0]
    x, h, c = _initial_state(emb, kernel, batch)
    log_prob = tf.zeros([batch])
    entropy = tf.zeros([batch])
    for t in tf.range(tf.shape(columns)[0]):
        h, c = _lstm_step(x, h, c, kernel, bias)
        log_p = _step_log_probs(h, head_k, head_b, columns[t], valid[t], temperature,
                                tanh_constant)
        choice = choices[:, t]
        log_prob += tf.gather(log_p, choice, axis=1, batch_dims=1)
        entropy -= tf.reduce_sum(tf.where(valid[t][None, :], tf.exp(log_p) * log_p, 0.0), axis=1)
        x = tf.gather(emb, 1 + tf.gather(columns[t], choice))
    return log_prob, entropy


@tf.function(input_signature=[_W_SPECS, *_LAYOUT_SPECS, tf.TensorSpec([None, None], tf.float64),
                              tf.TensorSpec([], tf.float32)])
def _sample(weights, columns, valid, temperature, tanh_constant, uniforms, flatten):
    """uniforms [batch, T] -> (choices [batch, T] int32, log_prob [batch]) under pi^(1/flatten)."""
    emb, kernel, bias, head_k, head_b = weights
    batch = tf.shape(uniforms)[0]
    num_steps = tf.shape(columns)[0]
    num_valid = tf.reduce_sum(tf.cast(valid, tf.int32), axis=1)
    x, h, c = _initial_state(emb, kernel, batch)
    log_prob = tf.zeros([batch])
    out = tf.TensorArray(tf.int32, size=num_steps)
    for t in tf.range(num_steps):
        h, c = _lstm_step(x, h, c, kernel, bias)
        log_p = _step_log_probs(h, head_k, head_b, columns[t], valid[t], temperature,
                                tanh_constant, flatten)
        # Inverse CDF: the first index whose cumulative mass exceeds u.
        cdf = tf.cumsum(tf.cast(tf.exp(log_p), tf.float64), axis=1)
        below = tf.cast(cdf <= uniforms[:, t:t + 1] * cdf[:, -1:], tf.int32)
        choice = tf.minimum(tf.reduce_sum(below, axis=1), num_valid[t] - 1)
        out = out.write(t, choice)
        log_prob += tf.gather(log_p, choice, axis=1, batch_dims=1)
        x = tf.gather(emb, 1 + tf.gather(columns[t], choice))
    return tf.transpose(out.stack()), log_prob


@tf.function(input_signature=[_W_SPECS, *_LAYOUT_SPECS, tf.TensorSpec([None, None], tf.int32)])
def _log_probs_and_entropy(weights, columns, valid, temperature, tanh_constant, choices):
    return _forward(weights, columns, valid, temperature, tanh_constant, choices)


@tf.function(input_signature=[
    _W_SPECS, *_LAYOUT_SPECS, tf.TensorSpec([None, None], tf.int32),
    tf.TensorSpec([None], tf.float32), tf.TensorSpec([None], tf.float32),
    tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.bool),
    tf.TensorSpec([None], tf.bool), tf.TensorSpec([], tf.float32)])
def _loss_and_grads(weights, columns, valid, temperature, tanh_constant, choices, advantages,
                    old_log_probs, clip, entropy_weight, use_ppo, is_ml, ml_weight):
    """(loss, mean entropy of the policy rows, grads).

    Rows of ``choices`` are policy-gradient rows (``is_ml`` False: REINFORCE or
    PPO's clipped surrogate with their advantages, plus the entropy bonus) or
    maximum-likelihood rows (``is_ml`` True: ``ml_weight`` times their mean
    log-probability, the priority-queue term of Abolafia et al. 2018).
    """
    pg = tf.cast(tf.logical_not(is_ml), tf.float32)
    ml = tf.cast(is_ml, tf.float32)
    num_pg = tf.maximum(tf.reduce_sum(pg), 1.0)
    num_ml = tf.maximum(tf.reduce_sum(ml), 1.0)
    with tf.GradientTape() as tape:
        tape.watch(weights)
        log_prob, entropy = _forward(weights, columns, valid, temperature, tanh_constant,
                                     choices)
        # REINFORCE (Williams 1992): maximise E[log pi(a) * A].
        reinforce = log_prob * advantages
        # PPO (Schulman et al. 2017): maximise E[min(r A, clip(r, 1 - eps, 1 + eps) A)].
        ratio = tf.exp(log_prob - old_log_probs)
        ppo = tf.minimum(ratio * advantages,
                         tf.clip_by_value(ratio, 1.0 - clip, 1.0 + clip) * advantages)
        objective = tf.where(use_ppo, ppo, reinforce)
        mean_entropy = tf.reduce_sum(entropy * pg) / num_pg
        loss = (-tf.reduce_sum(objective * pg) / num_pg - entropy_weight * mean_entropy
                - ml_weight * tf.reduce_sum(log_prob * ml) / num_ml)
    return loss, mean_entropy, tape.gradient(loss, weights)


class Adam:
    """Adam (Kingma & Ba 2015) over a list of float32 numpy arrays, state in plain arrays."""

    def __init__(self, shapes: Sequence[tuple[int, ...]], lr: float, beta1: float = 0.9,
                 beta2: float = 0.999, epsilon: float = 1e-8):
        self.lr, self.beta1, self.beta2, self.epsilon = lr, beta1, beta2, epsilon
        self.step = 0
        self.m = [np.zeros(s, np.float32) for s in shapes]
        self.v = [np.zeros(s, np.float32) for s in shapes]

    def apply(self, weights: list[np.ndarray], grads: Sequence[np.ndarray]) -> None:
        """Updates ``weights`` in place."""
        self.step += 1
        b1, b2 = np.float32(self.beta1), np.float32(self.beta2)
        correction1 = np.float32(1.0 - self.beta1 ** self.step)
        correction2 = np.float32(1.0 - self.beta2 ** self.step)
        lr, eps = np.float32(self.lr), np.float32(self.epsilon)
        for w, m, v, g in zip(weights, self.m, self.v, grads):
            g = np.asarray(g, np.float32)
            m *= b1
            m += (np.float32(1.0) - b1) * g
            v *= b2
            v += (np.float32(1.0) - b2) * g * g
            w -= lr * (m / correction1) / (np.sqrt(v / correction2) + eps)

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "m": [_to_lists(a) for a in self.m],
                "v": [_to_lists(a) for a in self.v]}

    def parse_json(self, data: dict[str, Any]) -> tuple[int, list[np.ndarray], list[np.ndarray]]:
        """(step, m, v) from what ``to_json`` returned; ValueError for wrong shapes."""
        if len(data["m"]) != len(self.m) or len(data["v"]) != len(self.v):
            raise ValueError(f"saved Adam state has {len(data['m'])} moments, "
                             f"expected {len(self.m)}")
        return (int(data["step"]),
                [_from_lists(a, m.shape) for a, m in zip(data["m"], self.m)],
                [_from_lists(a, v.shape) for a, v in zip(data["v"], self.v)])

    def load_json(self, data: dict[str, Any]) -> None:
        self.step, self.m, self.v = self.parse_json(data)


def _to_lists(array: np.ndarray) -> dict[str, Any]:
    """A float32 array as JSON: its shape and its little-endian bytes in base64.

    Exact, and about a fifth of the size of a list of decimal floats: the
    state is saved after every ask and tell, and a controller over the
    NASNet space has about 10^5 weights (three times that with Adam's moments).
    """
    data = np.ascontiguousarray(array, dtype="<f4")
    return {"shape": list(data.shape), "float32_le": base64.b64encode(data.tobytes()).decode()}


def _from_lists(data: Any, shape: tuple[int, ...]) -> np.ndarray:
    if not isinstance(data, dict) or set(data) != {"shape", "float32_le"} \
            or not isinstance(data["float32_le"], str):
        raise ValueError(f"a saved controller array must be {{'shape', 'float32_le'}}, got "
                         f"{str(data)[:80]!r}")
    if list(data["shape"]) != list(shape) or any(isinstance(d, bool) for d in data["shape"]):
        raise ValueError(f"saved controller array has shape {data['shape']!r}, "
                         f"expected {list(shape)}")
    try:
        raw = base64.b64decode(data["float32_le"].encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as e:
        raise ValueError(f"saved controller array is not base64: {e}") from None
    expected = int(np.prod(shape, dtype=np.int64)) * 4
    if len(raw) != expected:
        raise ValueError(f"saved controller array has {len(raw)} bytes, expected {expected}")
    return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)


class Controller:
    """An LSTM policy over ``len(num_choices)`` categorical decisions.

    Args:
        num_choices: choices per decision (each >= 1).
        units: LSTM units (NASNet: 100, Zoph et al. 2018 [unverified]).
        rng: numpy Generator for the initial weights, U(-0.1, 0.1) as in ENAS.
        temperature: logits are divided by it (None: no division).
        tanh_constant: logits become ``tanh_constant * tanh(logits)`` (None: off).
    """

    def __init__(self, num_choices: Sequence[int], units: int, rng: np.random.Generator,
                 temperature: float | None = None, tanh_constant: float | None = None):
        self.num_choices = tuple(int(n) for n in num_choices)
        self.units = int(units)
        self.temperature = None if temperature is None else float(temperature)
        self.tanh_constant = None if tanh_constant is None else float(tanh_constant)
        shapes = weight_shapes(self.num_choices, self.units)
        self.weights = [rng.uniform(-INIT_RANGE, INIT_RANGE, shapes[k]).astype(np.float32)
                        for k in _WEIGHT_NAMES]
        columns, valid = _layout(self.num_choices)
        self._layout = [tf.constant(columns), tf.constant(valid),
                        tf.constant(1.0 if self.temperature is None else self.temperature,
                                    tf.float32),
                        tf.constant(0.0 if self.tanh_constant is None else self.tanh_constant,
                                    tf.float32)]

    @property
    def num_decisions(self) -> int:
        return len(self.num_choices)

    def sample(self, rng: np.random.Generator, num: int = 1, flatten: float = 1.0
               ) -> list[tuple[tuple[int, ...], float]]:
        """Draws ``num`` independent architectures: [(choices, log-probability)].

        ``flatten > 1`` samples each decision from its final logits divided by
        ``flatten`` (a flatter copy of the policy; the log-probabilities are
        then those of that copy). Uses exactly ``num * len(num_choices)``
        uniforms of ``rng``.
        """
        uniforms = rng.random((num, self.num_decisions))
        choices, log_prob = _sample(self.weights, *self._layout,
                                    tf.constant(uniforms, tf.float64),
                                    tf.constant(flatten, tf.float32))
        return [(tuple(int(x) for x in row), float(lp))
                for row, lp in zip(choices.numpy(), log_prob.numpy())]

    def log_probs_and_entropy(self, choices_batch: Sequence[Sequence[int]]
                              ) -> tuple[np.ndarray, np.ndarray]:
        """Teacher-forced: log pi(choices) [batch] and the summed per-decision entropies [batch]."""
        log_prob, entropy = _log_probs_and_entropy(self.weights, *self._layout,
                                                   self._choices(choices_batch))
        return log_prob.numpy(), entropy.numpy()

    def loss_and_grads(self, choices_batch: Sequence[Sequence[int]],
                       advantages: Sequence[float], *, entropy_weight: float,
                       old_log_probs: Sequence[float] | None = None,
                       clip: float = 0.2) -> tuple[float, list[np.ndarray]]:
        """The loss to minimise and its gradients w.r.t. ``self.weights``.

        REINFORCE when ``old_log_probs`` is None, else PPO's clipped surrogate.
        """
        loss, _, grads = self.update_terms(choices_batch, advantages,
                                           entropy_weight=entropy_weight,
                                           old_log_probs=old_log_probs, clip=clip)
        return loss, grads

    def update_terms(self, choices_batch: Sequence[Sequence[int]], advantages: Sequence[float],
                     *, entropy_weight: float, old_log_probs: Sequence[float] | None = None,
                     clip: float = 0.2, ml_choices: Sequence[Sequence[int]] = (),
                     ml_weight: float = 0.0) -> tuple[float, float, list[np.ndarray]]:
        """(loss, mean entropy of ``choices_batch`` under the policy, gradients), in one call.

        The loss is ``loss_and_grads``'s (REINFORCE, or PPO with
        ``old_log_probs``) minus ``ml_weight`` times the mean log-probability of
        ``ml_choices`` (maximum likelihood on them: priority-queue training,
        Abolafia et al. 2018).
        """
        n, m = len(advantages), len(ml_choices)
        use_ppo = old_log_probs is not None
        old = list(old_log_probs) if use_ppo else [0.0] * n
        rows = [*choices_batch, *ml_choices]
        loss, entropy, grads = _loss_and_grads(
            self.weights, *self._layout, self._choices(rows),
            tf.constant(np.asarray([*advantages] + [0.0] * m, np.float32).reshape([n + m])),
            tf.constant(np.asarray(old + [0.0] * m, np.float32).reshape([n + m])),
            tf.constant(clip, tf.float32), tf.constant(entropy_weight, tf.float32),
            tf.constant(use_ppo), tf.constant([False] * n + [True] * m, tf.bool),
            tf.constant(ml_weight, tf.float32))
        return float(loss.numpy()), float(entropy.numpy()), [g.numpy() for g in grads]

    def _choices(self, choices_batch: Sequence[Sequence[int]]) -> tf.Tensor:
        array = np.asarray(choices_batch, np.int32).reshape([-1, self.num_decisions])
        return tf.constant(array)

    def to_json(self) -> list:
        return [_to_lists(w) for w in self.weights]

    def parse_json(self, data: Sequence[Any]) -> list[np.ndarray]:
        """The weights ``to_json`` returned; ValueError for wrong shapes."""
        if len(data) != len(self.weights):
            raise ValueError(
                f"saved controller has {len(data)} weight arrays, expected {len(self.weights)}")
        return [_from_lists(d, w.shape) for d, w in zip(data, self.weights)]

    def load_json(self, data: Sequence[Any]) -> None:
        self.weights = self.parse_json(data)


def clip_by_global_norm(grads: list[np.ndarray], max_norm: float | None) -> list[np.ndarray]:
    """Scales ``grads`` so that their global L2 norm is at most ``max_norm`` (None: unchanged)."""
    if max_norm is None:
        return grads
    norm = math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads))
    if norm <= max_norm:
        return grads
    scale = np.float32(max_norm / norm)
    return [g * scale for g in grads]

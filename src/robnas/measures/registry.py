"""The measure registry: one small function per measure, looked up by name.

A measure is a function ``fn(ctx: MeasureContext, **options) -> float | dict[str, float]``
registered with :func:`register_measure`. The caller hands it a ready network and a batch inside
a :class:`MeasureContext` (the design of the zero-cost-nas ``foresight`` registry of Abdelfattah
et al., "Zero-cost proxies for lightweight NAS", ICLR 2021). A measure returning a dict gives
several columns, named ``measure.key`` (e.g. ``ntk.lmin``, ``ntk.cond``).

Policy that lives here once, not in each measure:

* every measure gets a *fresh copy* of the network, so that measures cannot influence each other
  (one of them takes absolute values of the weights, another changes BN statistics). The network
  is built (from the seed) and prepared once per BatchNorm mode, and each measure receives a deep
  copy of that prepared network: the same values as re-initialising per measure, without
  repeating the calibration pass;
* ``bn="as-is"``: the network's own running statistics, eval mode: the mode for *trained*
  networks (a checkpoint), whose statistics are part of what was learnt. ``compute_measures(...,
  bn="as-is")`` applies it to every measure (the proxies that default to train mode included);
* ``bn="calibrated"`` (default at initialisation): BatchNorm statistics are set from the batch
  itself (one forward pass in train mode with cumulative averaging), then the network is put in
  eval mode. The network then normalises exactly as in training on this batch, while samples no
  longer interact, so that per-sample gradients, input Jacobians and Hessians and bound
  propagation are well defined;
  ``bn="train"`` keeps train mode (batch statistics; used by the proxies whose reference
  implementations do so); ``bn="eval"`` uses the initial running statistics (mean 0, variance 1:
  BatchNorm is then the identity at initialisation, as for synflow);
* randomness: ``torch.manual_seed(seed)`` before each measure and a generator for the attacks;
* a per-context cache lets measures share expensive intermediate results (adversarial inputs,
  per-sample gradients) within one :func:`compute_measures` call.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robnas.errors import ConfigError
from robnas.registry import Registry, check_options


class MeasureWarning(UserWarning):
    """A measure's value is numerically meaningless (e.g. a vacuous certified bound).

    :func:`compute_measures` records which columns raised one (its ``flags`` argument), and the
    builder stores the flag beside the value, so a table read later still says so."""


BNMode = Literal["calibrated", "train", "eval", "as-is"]
BN_MODES: tuple[str, ...] = ("calibrated", "train", "eval", "as-is")
MeasureValue = float | dict[str, float]
MeasureFn = Callable[..., MeasureValue]


@dataclass
class MeasureSpec:
    """A registered measure: the function, its default BN mode, a one-line description, the paper."""

    name: str
    fn: MeasureFn
    bn: BNMode
    help: str
    paper: str
    needs_data: bool = True


_B, _H, _J, _N, _P = (f"robnas.measures.{m}" for m in ("bounds", "hessian", "jacobian", "ntk", "proxies"))
MEASURES: Registry[MeasureSpec] = Registry(
    "measure",
    builtin={
        **dict.fromkeys(("certified_radius", "crown_ibp", "ibp"), _B),
        "hessian": _H,
        **dict.fromkeys(("jacobian", "jacobian_proj", "jacobian_top"), _J),
        **dict.fromkeys(("ntk", "ntk_adv", "ntk_cross", "ntk_mixed", "ntk_mixed_robust"), _N),
        **dict.fromkeys(("flops", "grad_norm", "jacov", "naswot", "params", "snip", "synflow"), _P),
    },
)
"""The measure registry: name -> :class:`MeasureSpec` (built-ins imported on first use)."""

CORE_MEASURES: tuple[str, ...] = (
    "params",
    "flops",
    "synflow",
    "snip",
    "grad_norm",
    "jacov",
    "naswot",
    "jacobian",
    "jacobian_top",
    "hessian",
)
"""The default measures other than the NTK family (one batch, one initialisation each)."""

NTK_MEASURES: tuple[str, ...] = ("ntk_adv", "ntk_mixed_robust", "ntk_cross", "ntk")
"""The default NTK scores, under Wu et al.'s protocol (the costly part of the default set)."""

DEFAULT_MEASURES: tuple[str, ...] = CORE_MEASURES + NTK_MEASURES
"""The default measure set of ``robnas measure`` and of the ``measure`` job kind.

Left out: ``jacobian_proj`` (an estimate of ``jacobian``, which is exact here), ``ntk_mixed``
(equal to ``ntk_adv`` at the default ``beta = 1``) and the certified bounds (``ibp``,
``crown_ibp``, ``certified_radius``; add them by name). ``ntk`` comes after the perturbed
kernels so that it reuses their clean block.
"""

INIT_STRIDE = 1_000_003
"""Seed offset between the random initialisations of one measure (see :meth:`MeasureContext.init_seed`)."""


def register_measure(
    name: str, *, bn: BNMode = "calibrated", help: str = "", paper: str = "", needs_data: bool = True
) -> Callable[[MeasureFn], MeasureFn]:
    """Decorator: register ``fn(ctx, **options)`` as the measure ``name``.

    Args:
        name: the registry key (lower case, ``_`` separated).
        bn: the BatchNorm mode the network is prepared in (see the module docstring).
        help: one line for ``robnas measure list``.
        paper: the citation the measure follows.
        needs_data: ``False`` for measures that ignore the batch (params, FLOPs, synflow).
    """

    def deco(fn: MeasureFn) -> MeasureFn:
        doc = (fn.__doc__ or "").strip().splitlines()
        MEASURES.register(name, MeasureSpec(name, fn, bn, help or (doc[0] if doc else ""), paper, needs_data))
        return fn

    return deco


def available_measures() -> list[str]:
    """Names of the registered measures (imports none of them)."""
    return MEASURES.names()


def get_measure(name: str) -> MeasureSpec:
    """The registered measure ``name`` (any case); :class:`ConfigError` with a suggestion otherwise."""
    return MEASURES.get(name)


def parse_measures(text: str | Sequence[str]) -> list[str]:
    """``"jacobian,ntk"`` or a list -> validated names; ``"all"`` means every registered measure,
    ``"default"`` the :data:`DEFAULT_MEASURES`."""
    items = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    if not items:
        raise ConfigError("give at least one measure, e.g. --measures jacobian,hessian,ntk_mixed")
    if items == ["all"]:
        return available_measures()
    if items == ["default"]:
        return list(DEFAULT_MEASURES)
    return [get_measure(t).name for t in items]


def check_measure_options(
    options: Mapping[str, Mapping[str, Any]] | None, names: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    """``options`` (``{measure: {option: value}}``) keyed by the measures' registered names, after
    checking that every measure exists, takes each of its options and, with ``names``, is one of
    ``names`` (an option for a measure that is not computed is a mistake, not a no-op).

    Raises:
        ConfigError: one line naming the measure and the option.
    """
    out: dict[str, dict[str, Any]] = {}
    for key, opts in (options or {}).items():
        spec = get_measure(key)
        if names is not None and spec.name not in names:
            raise ConfigError(
                f"options given for measure {spec.name}, which is not computed; "
                f"the measures are {', '.join(names) or 'none'}"
            )
        check_options(f"measure {spec.name}", spec.fn, opts, skip=1)
        out[spec.name] = dict(opts)
    return out


@dataclass
class MeasureContext:
    """What a measure receives: a prepared network, the batch, the loss, the seed, a shared cache.

    ``model`` takes pixels in [0, 1] (normalisation is its first layer); ``x`` is a float batch in
    [0, 1] on the model's device and ``y`` the labels. ``loss(logits, y)`` returns the mean loss.
    """

    model: nn.Module
    x: Tensor
    y: Tensor
    loss: Callable[[Tensor, Tensor], Tensor]
    seed: int = 0
    cache: dict[Any, Any] = field(default_factory=dict)
    factory: Callable[[], nn.Module] | None = None
    bn: BNMode = "calibrated"

    @property
    def device(self) -> torch.device:
        return self.x.device

    def fresh_model(self, bn: BNMode = "calibrated") -> nn.Module:
        """Another fresh copy of the network prepared in ``bn`` mode (for measures needing two)."""
        return prepare_model(_fresh(self.factory, self.model, self.seed), self.x, bn)

    def init_seed(self, i: int) -> int:
        """The seed of the ``i``-th initialisation (``i = 0`` is ``seed`` itself).

        Initialisation ``i`` uses ``seed + INIT_STRIDE * i``, so that the initialisations of two
        different seeds never coincide (a test-retest comparison of seeds 0 and 1 then compares
        disjoint sets of networks).
        """
        return self.seed + INIT_STRIDE * i

    def init_model(self, i: int) -> nn.Module:
        """The network of the ``i``-th random initialisation, prepared in this context's BN mode.

        ``i = 0`` is :attr:`model`. Other initialisations are built by the factory (or, for a given
        network, by re-running ``reset_parameters`` on a copy) from :meth:`init_seed`. A network
        measured ``as-is`` (a trained one) has only the one set of weights: asking for ``i > 0``
        is a :class:`ConfigError`.
        """
        if i == 0:
            return self.model
        if self.bn == "as-is":
            raise ConfigError("a trained network (bn='as-is') has one set of weights; use n_init=1 for it")
        torch.manual_seed(self.init_seed(i))
        if self.factory is not None:
            net = self.factory()
        else:
            net = copy.deepcopy(self.model)
            for m in net.modules():
                reset = getattr(m, "reset_parameters", None)
                if m is not net and callable(reset):
                    reset()
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.reset_running_stats()
        return prepare_model(net, self.x, self.bn)


@torch.no_grad()
def calibrate_bn(model: nn.Module, x: Tensor) -> nn.Module:
    """Set every BatchNorm's running statistics to those of ``x`` (one pass), then eval mode."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m, m.momentum) for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: after one pass, exactly the batch statistics
    model.train()
    model(x)
    for m, mom in saved:
        m.momentum = mom
    return model.eval()


def prepare_model(model: nn.Module, x: Tensor, bn: BNMode) -> nn.Module:
    """Put ``model`` in the BatchNorm mode ``bn`` (see the module docstring)."""
    if bn == "calibrated":
        return calibrate_bn(model, x)
    if bn == "train":
        return model.train()
    if bn in ("eval", "as-is"):
        return model.eval()
    raise ConfigError(f"unknown BatchNorm mode {bn!r}; choose {', '.join(BN_MODES)}")


def _fresh(factory: Callable[[], nn.Module] | None, model: nn.Module | None, seed: int) -> nn.Module:
    if factory is not None:
        torch.manual_seed(seed)
        return factory()
    assert model is not None
    return copy.deepcopy(model)


def _device_of(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def compute_measures(
    names: str | Sequence[str],
    model: nn.Module | Callable[[], nn.Module],
    x: Tensor,
    y: Tensor,
    loss: Callable[[Tensor, Tensor], Tensor] | None = None,
    seed: int = 0,
    options: dict[str, dict[str, Any]] | None = None,
    timings: dict[str, float] | None = None,
    bn: BNMode | None = None,
    flags: dict[str, str] | None = None,
) -> dict[str, float]:
    """Compute the measures ``names`` on ``model`` and the batch ``(x, y)``.

    Args:
        names: measure names (or a comma-separated string, or ``"all"``).
        model: a network, or a zero-argument factory building a freshly initialised one (it is
            called after ``torch.manual_seed(seed)`` for every measure). A given network is copied
            for every measure and never modified.
        x: images, float in [0, 1], ``[B, C, H, W]`` (moved to the model's device).
        y: integer labels ``[B]``.
        loss: ``loss(logits, y) -> scalar``; default cross-entropy (mean).
        seed: seeds the network (with a factory), the random projections and the attacks.
        options: per-measure keyword options, e.g. ``{"ntk_mixed": {"beta": 0.5}}``.
        timings: if given, filled with the seconds each measure took.
        bn: ``None`` (default): each measure's own BatchNorm mode (measures at initialisation);
            ``"as-is"`` for a trained network (its own statistics, every measure in eval mode);
            another mode forces that mode on every measure.
        flags: if given, filled with ``{column: message}`` for every column whose measure raised
            a :class:`MeasureWarning` (the warning is still shown).

    Returns:
        ``{column: value}``; a measure returning several values gives ``measure.key`` columns.
        A measure that fails numerically (e.g. a singular kernel) gives ``nan``, never a crash.
    """
    chosen = parse_measures(names)
    if bn is not None and bn not in BN_MODES:
        raise ConfigError(f"unknown BatchNorm mode {bn!r}; choose {', '.join(BN_MODES)}")
    options = check_measure_options(options)
    factory = model if not isinstance(model, nn.Module) else None
    base = model if isinstance(model, nn.Module) else None
    if base is None:
        torch.manual_seed(seed)
        base = factory()  # type: ignore[misc]
    device = _device_of(base)
    x = x.to(device=device, dtype=torch.float32)
    y = y.to(device=device, dtype=torch.int64)
    if x.ndim != 4 or y.shape != (x.shape[0],):
        raise ConfigError(
            f"measures need images [B, C, H, W] and labels [B], got {tuple(x.shape)}, {tuple(y.shape)}"
        )
    if x.numel() and (float(x.min()) < 0 or float(x.max()) > 1):
        raise ConfigError("measures take pixels in [0, 1]; the model normalises them itself")
    cache: dict[Any, Any] = {}
    out: dict[str, float] = {}
    prepared: dict[str, nn.Module] = {}
    for name in chosen:
        spec = get_measure(name)
        mode = bn or spec.bn
        t0 = time.perf_counter()
        if mode not in prepared:
            prepared[mode] = prepare_model(_fresh(factory, base, seed), x, mode)
        net = copy.deepcopy(prepared[mode])
        ctx = MeasureContext(net, x, y, loss or F.cross_entropy, seed, cache, factory, mode)
        torch.manual_seed(seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MeasureWarning)
            value = spec.fn(ctx, **options.get(name, {}))
        columns = [f"{name}.{k}" for k in value] if isinstance(value, dict) else [name]
        values = value.values() if isinstance(value, dict) else [value]
        out.update({c: _finite(v) for c, v in zip(columns, values, strict=True)})
        for w in caught:  # shown as if never caught; a MeasureWarning also flags the columns
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
            if flags is not None and issubclass(w.category, MeasureWarning):
                for c in columns:
                    flags[c] = "; ".join(filter(None, (flags.get(c), str(w.message))))
        if timings is not None:
            timings[name] = time.perf_counter() - t0
    return out


def _finite(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f if math.isfinite(f) else math.nan


def measure_table() -> list[dict[str, str]]:
    """``[{name, bn, help, paper}]`` of every registered measure (for the CLI and docs)."""
    return [
        {"name": s.name, "bn": s.bn, "help": s.help, "paper": s.paper}
        for s in (get_measure(n) for n in available_measures())
    ]


def iter_specs(names: Iterable[str]) -> list[MeasureSpec]:
    return [get_measure(n) for n in names]

"""One name per metric, across every benchmark source.

A :class:`Metric` is a value: the dataset it was measured on, its kind (``clean``, ``attack``,
``corruption`` or ``other``), the attack or corruption name, the attack's epsilon in units of
1/255 (or the corruption severity 1..5), the attack norm and the measured quantity. Its canonical
spelling is::

    cifar10/clean                      clean accuracy
    cifar10/pgd@8                      PGD, L-infinity, epsilon 8/255
    cifar10/pgd@0.1                    PGD at epsilon 0.1/255
    cifar10/pgd-l2@64                  another norm is written after the attack name
    cifar10/fog#3                      fog corruption at severity 3
    cifar10/corruption-mean            mean over all 15 corruptions and 5 severities (Jung et al.)
    cifar10/adversarial-mean           mean over a source's attacks and epsilons (defined per source)
    cifar100/autoattack@8              AutoAttack (standard version) at 8/255
    cifar10/pgd@8/confidence           a quantity other than accuracy
    cifar10/pgd@8/seed-std             the spread (std) over training seeds of an accuracy
    cifar10/synflow, digits/params     other quantities (measures, sizes) on any dataset name

Accuracies are **fractions in [0, 1]** in every source (NATS-Bench's percentages are divided by
100 in its adapter). Sources map their own column names onto these names once, in their adapter.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from robnas.errors import RobnasError

DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16-120")
_DATASET_ALIASES = {
    "cifar10": "cifar10",
    "cifar-10": "cifar10",
    "cifar100": "cifar100",
    "cifar-100": "cifar100",
    "imagenet16-120": "imagenet16-120",
    "imagenet16": "imagenet16-120",
    "imagenet": "imagenet16-120",
    "imagenet16_120": "imagenet16-120",
}

ATTACKS: tuple[str, ...] = ("fgsm", "pgd", "apgd-ce", "square", "autoattack", "ensemble")
CORRUPTIONS: tuple[str, ...] = (
    "brightness",
    "contrast",
    "defocus_blur",
    "elastic_transform",
    "fog",
    "frost",
    "gaussian_noise",
    "glass_blur",
    "impulse_noise",
    "jpeg_compression",
    "motion_blur",
    "pixelate",
    "shot_noise",
    "snow",
    "zoom_blur",
)
"""The 15 CIFAR-10-C corruptions (Hendrycks and Dietterich, ICLR 2019) used by Jung et al."""

DERIVED: dict[str, str] = {
    "corruption-mean": "corruption",
    "adversarial-mean": "other",
}
"""Derived metric names and their kind."""

NORMS: tuple[str, ...] = ("linf", "l2", "l1")
KINDS: tuple[str, ...] = ("clean", "attack", "corruption", "other")
QUANTITIES: tuple[str, ...] = ("accuracy", "confidence", "seed-std")
"""``seed-std``: the standard deviation over training seeds of the accuracy (sample std, ddof=1),
for sources that publish per-seed values (``nasrobbench201:cifar10/pgd@8/seed-std``)."""
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)


class UnknownMetricError(RobnasError, KeyError):
    """A metric name that cannot be read, or that a source does not provide."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def format_epsilon(eps: float) -> str:
    """``8.0 -> "8"``, ``0.1 -> "0.1"``, ``0.5 -> "0.5"`` (units of 1/255)."""
    if float(eps).is_integer():
        return str(int(eps))
    return f"{eps:g}"


@dataclass(frozen=True, slots=True, order=True)
class Metric:
    """One measured quantity of an architecture, named the same way in every source.

    ``epsilon`` is in units of 1/255 (attacks only); ``severity`` is 1..5 (corruptions only).
    """

    dataset: str
    kind: str
    name: str
    epsilon: float | None = None
    severity: int | None = None
    norm: str = "linf"
    quantity: str = "accuracy"

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS and not _NAME_RE.match(self.dataset):
            raise UnknownMetricError(f"malformed dataset name {self.dataset!r}")
        if self.kind not in KINDS:
            raise UnknownMetricError(f"unknown metric kind {self.kind!r}; kinds are {', '.join(KINDS)}")
        if self.kind == "attack":
            if self.epsilon is None or not math.isfinite(self.epsilon) or self.epsilon <= 0:
                raise UnknownMetricError(
                    f"attack {self.name!r} needs a positive epsilon in units of 1/255, e.g. {self.name}@8"
                )
            if self.norm not in NORMS:
                raise UnknownMetricError(f"unknown norm {self.norm!r}; norms are {', '.join(NORMS)}")
            object.__setattr__(self, "epsilon", float(self.epsilon))
        elif self.epsilon is not None:
            raise UnknownMetricError(f"only attacks have an epsilon, not {self.kind} metric {self.name!r}")
        if self.severity is not None and self.severity not in SEVERITIES:
            raise UnknownMetricError(f"corruption severity must be 1..5, got {self.severity!r}")
        if self.quantity not in QUANTITIES:
            raise UnknownMetricError(
                f"unknown quantity {self.quantity!r}; quantities are {', '.join(QUANTITIES)}"
            )

    # ------------------------------------------------------------------ spellings
    def __str__(self) -> str:
        name = self.name
        if self.kind == "attack":
            if self.norm != "linf":
                name += f"-{self.norm}"
            name += "@" + format_epsilon(self.epsilon)  # type: ignore[arg-type]
        elif self.severity is not None:
            name += f"#{self.severity}"
        text = f"{self.dataset}/{name}"
        if self.quantity != "accuracy":
            text += f"/{self.quantity}"
        return text

    @property
    def key(self) -> str:
        """The canonical spelling (same as ``str(metric)``)."""
        return str(self)

    @property
    def is_adversarial(self) -> bool:
        return self.kind == "attack"

    @classmethod
    def parse(cls, value: Metric | str) -> Metric:
        return parse_metric(value)

    @classmethod
    def clean(cls, dataset: str) -> Metric:
        return cls(_dataset(dataset), "clean", "clean")

    @classmethod
    def attack(cls, dataset: str, name: str, epsilon: float, norm: str = "linf") -> Metric:
        return cls(_dataset(dataset), "attack", name, epsilon=float(epsilon), norm=norm)

    @classmethod
    def corruption(cls, dataset: str, name: str, severity: int | None) -> Metric:
        return cls(_dataset(dataset), "corruption", name, severity=severity)


_ATTACK_RE = re.compile(r"^(?P<name>[a-z][a-z0-9_-]*?)(?:-(?P<norm>linf|l2|l1))?@(?P<eps>[0-9.eE+-]+)$")
_SEV_RE = re.compile(r"^(?P<name>[a-z][a-z0-9_-]*)#(?P<sev>[0-9]+)$")
_EXAMPLES = "cifar10/clean, cifar10/pgd@8, cifar10/fog#3, cifar100/autoattack@8"


_NAME_RE = re.compile(r"^[a-z][a-z0-9_.-]*$")


def _dataset(text: str) -> str:
    """Normalise a dataset name: the benchmark datasets have aliases; any other well-formed name
    (``digits``, ``mnist``, a user's own data) is taken as is, for results the project builds."""
    key = text.strip().lower()
    ds = _DATASET_ALIASES.get(key)
    if ds is not None:
        return ds
    if not _NAME_RE.match(key):
        raise UnknownMetricError(
            f"malformed dataset name {text!r}: use lower-case letters, digits, '-' or '_' "
            f"(benchmark datasets: {', '.join(DATASETS)})"
        )
    return key


@lru_cache(maxsize=4096)
def _parse(text: str) -> Metric:
    raw = text.strip()
    parts = raw.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise UnknownMetricError(
            f"malformed metric {text!r}: expected DATASET/NAME[@EPS|#SEVERITY], e.g. {_EXAMPLES}"
        )
    dataset = _dataset(parts[0])
    body = parts[1].strip().lower()
    quantity = parts[2].strip().lower() if len(parts) == 3 else "accuracy"
    if body == "clean":
        return Metric(dataset, "clean", "clean", quantity=quantity)
    if body in DERIVED:
        return Metric(dataset, DERIVED[body], body, quantity=quantity)
    m = _ATTACK_RE.match(body)
    if m:
        name = m["name"]
        if name not in ATTACKS:
            raise UnknownMetricError(
                f"unknown attack {name!r} in {text!r}; attacks are {', '.join(ATTACKS)}"
                + _suggest(name, ATTACKS)
            )
        try:
            eps = float(m["eps"])
        except ValueError:
            raise UnknownMetricError(
                f"malformed epsilon {m['eps']!r} in {text!r}; write e.g. pgd@8"
            ) from None
        return Metric(dataset, "attack", name, epsilon=eps, norm=m["norm"] or "linf", quantity=quantity)
    m = _SEV_RE.match(body)
    if m:
        name = m["name"]
        if name not in CORRUPTIONS:
            raise UnknownMetricError(
                f"unknown corruption {name!r} in {text!r}" + _suggest(name, CORRUPTIONS, always=True)
            )
        return Metric(dataset, "corruption", name, severity=int(m["sev"]), quantity=quantity)
    if body in ATTACKS:
        raise UnknownMetricError(f"attack metric {text!r} needs an epsilon in units of 1/255, e.g. {body}@8")
    if body in CORRUPTIONS:
        raise UnknownMetricError(f"corruption metric {text!r} needs a severity 1..5, e.g. {body}#3")
    near_known = difflib.get_close_matches(body, ["clean", *DERIVED], n=1, cutoff=0.75)
    if _NAME_RE.match(body) and not near_known:
        # any other well-formed name is a quantity of kind "other": a measure (synflow, jacobian),
        # a size (params, flops) or a training statistic stored by the project's own builds
        return Metric(dataset, "other", body, quantity=quantity)
    raise UnknownMetricError(
        f"malformed metric {text!r}: expected DATASET/NAME[@EPS|#SEVERITY], e.g. {_EXAMPLES}"
        + _suggest(body, ("clean", *ATTACKS, *CORRUPTIONS, *DERIVED))
    )


def _suggest(word: str, choices: Iterable[str], always: bool = False) -> str:
    close = difflib.get_close_matches(word, list(choices), n=4, cutoff=0.5)
    if close:
        return "; did you mean " + " or ".join(close) + "?"
    if always:
        return "; known: " + ", ".join(choices)
    return ""


def parse_metric(value: Metric | str) -> Metric:
    """Read a metric name such as ``"cifar10/pgd@8"`` (a :class:`Metric` is returned as is)."""
    if isinstance(value, Metric):
        return value
    if not isinstance(value, str):
        raise UnknownMetricError(f"a metric is a name such as {_EXAMPLES}, got {value!r}")
    return _parse(value)


def close_matches(word: str, names: Iterable[str], n: int = 5) -> list[str]:
    """Names close to ``word`` (for "did you mean" messages)."""
    names = list(names)
    out = difflib.get_close_matches(word, names, n=n, cutoff=0.6)
    if not out:
        stem = word.split("@")[0].split("#")[0]
        out = [name for name in names if name.startswith(stem)][:n]
    return out

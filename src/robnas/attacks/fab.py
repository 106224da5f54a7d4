"""FAB: the Fast Adaptive Boundary attack (Croce and Hein, "Minimally distorted adversarial
examples with a fast adaptive boundary attack", ICML 2020), L-inf and L2, untargeted (``fab``)
and targeted (``fab-t``, the third attack of standard AutoAttack).

FAB looks for the smallest perturbation that changes the decision. At the iterate ``x1`` it
linearises the decision boundary of one class ``j`` against the true class ``y``:
``f(x) = z_j(x) - z_y(x) ~ f(x1) + g . (x - x1)`` with ``g = grad f(x1)``. The untargeted attack
takes the class whose linearised boundary is nearest, ``argmin_j |f_j| / ||g_j||_*`` (``||.||_*``
the dual norm: L1 for L-inf, L2 for L2), which needs the gradient of every logit; the targeted
attack uses the target class only (one gradient per step). Each step

- projects both ``x1`` and the clean point ``x0`` onto that hyperplane intersected with the box
  [0, 1]^d (minimal ``norm`` distance; :func:`project_hyperplane_box`), giving ``d1`` and ``d2``;
- moves to the biased combination ``(x1 + eta d1)(1 - a) + (x0 + eta d2) a`` with
  ``a = min(||d1|| / (||d1|| + ||d2||), alpha_max)`` (``eta = 1.05`` overshoot, ``alpha_max = 0.1``)
  and clips to [0, 1];
- when the new point is misclassified, keeps it if it is the closest found so far and steps back
  towards ``x0``: ``x1 <- x0 + beta (x1 - x0)`` with ``beta = 0.9``.

The first run starts at ``x0``; further restarts start at a random point at distance ``eps / 2``
(the authors' code). A point counts as fooled only when its closest adversarial example lies
within ``eps``; others are returned unchanged. FAB-T (AutoAttack's standard setting: 100
iterations, one restart, 9 target classes) takes as the k-th target the class of the (k+1)-th
largest clean logit and attacks only the points that earlier targets did not fool.

Written from the paper and the authors' description; the box-constrained projection is solved
here by sorting the breakpoints of the piecewise-linear dual function (exact), where the authors'
code runs a bisection over the same breakpoints.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robnas.attacks.base import Attack, _flat_norm, predict, register_attack
from robnas.errors import ConfigError


def project_hyperplane_box(t: Tensor, w: Tensor, b: Tensor, norm: str) -> Tensor:
    """The smallest ``d`` (in ``norm``) with ``w . (t + d) = b`` and ``t + d`` in [0, 1]^d, per row.

    ``t`` and ``w`` are ``(n, d)``, ``b`` is ``(n,)``. Moving coordinate ``i`` in the direction of
    ``sign(w_i)`` (towards the hyperplane) by at most its room to the box, the progress
    ``f(lam) = sum_i s_i min(lam, r_i)`` is piecewise linear and nondecreasing in the dual
    variable ``lam`` (L-inf: ``d_i = +-min(lam, room_i)``, ``s_i = |w_i|``, ``r_i = room_i``; L2:
    ``d_i = +-|w_i| min(lam, room_i / |w_i|)``, ``s_i = w_i^2``); the smallest ``lam`` reaching the
    required progress is found exactly from the sorted breakpoints ``r_i``. When the hyperplane
    cannot be reached inside the box, the box corner that gets closest is returned.
    """
    need = b - (w * t).sum(1)
    sgn = torch.where(need >= 0, 1.0, -1.0).to(t.dtype)
    need = need.abs()
    wp = w * sgn[:, None]
    direction = wp.sign()
    room = torch.where(wp > 0, 1.0 - t, t).clamp_min(0.0) * (wp != 0)
    aw = wp.abs()
    if norm == "Linf":
        bp, slope = room, aw
    else:
        bp = torch.where(aw > 0, room / aw.clamp_min(1e-30), torch.zeros_like(room))
        slope = aw * aw
    bp_s, order = bp.sort(dim=1)
    sl_s = slope.gather(1, order)
    cum_sb = torch.cumsum(sl_s * bp_s, dim=1)
    cum_s = torch.cumsum(sl_s, dim=1)
    total = cum_s[:, -1:]
    f_at_bp = cum_sb + bp_s * (total - cum_s)  # f(bp_(k)), nondecreasing in k
    k = (f_at_bp < need[:, None]).sum(1, keepdim=True)  # first breakpoint reaching the need
    zero = torch.zeros_like(total)
    s_prev = torch.cat([zero, cum_sb], 1).gather(1, k)
    t_prev = total - torch.cat([zero, cum_s], 1).gather(1, k)
    lam = (need[:, None] - s_prev) / t_prev.clamp_min(1e-30)
    lam = torch.where(k >= bp.shape[1], bp_s[:, -1:], lam)  # out of reach: go as far as the box allows
    step = torch.minimum(lam, bp)
    if norm != "Linf":
        step = step * aw
    return direction * step


def _dist(d: Tensor, norm: str) -> Tensor:
    flat = d.flatten(1)
    return flat.abs().amax(1) if norm == "Linf" else flat.norm(dim=1)


@register_attack("fab")
class FAB(Attack):
    """FAB, untargeted; see the module docstring."""

    targeted = False

    def __init__(
        self,
        eps: float,
        *,
        steps: int = 100,
        restarts: int = 1,
        alpha_max: float = 0.1,
        eta: float = 1.05,
        beta: float = 0.9,
        norm: str = "Linf",
        seed: int | None = 0,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__(eps, norm=norm, seed=seed, device=device)
        if steps < 1 or restarts < 1:
            raise ConfigError(f"FAB needs steps >= 1 and restarts >= 1, got {steps} and {restarts}")
        self.steps = int(steps)
        self.restarts = int(restarts)
        self.alpha_max = float(alpha_max)
        self.eta = float(eta)
        self.beta = float(beta)

    def _boundary(
        self, model: nn.Module, x1: Tensor, y: Tensor, target: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """``f = z_j - z_y`` and its input gradient for the class ``j`` whose boundary is nearest
        (untargeted) or the target class."""
        x1 = x1.detach().requires_grad_(True)
        n = x1.shape[0]
        with torch.enable_grad():
            z = model(x1)
            if target is not None:
                f = z.gather(1, target[:, None]).squeeze(1) - z.gather(1, y[:, None]).squeeze(1)
                (g,) = torch.autograd.grad(f.sum(), x1, allow_unused=True) if f.requires_grad else (None,)
                g = torch.zeros_like(x1) if g is None else g
                return f.detach(), g.detach()
            grads = []
            for c in range(z.shape[1]):
                gc = None
                if z.requires_grad:
                    (gc,) = torch.autograd.grad(z[:, c].sum(), x1, retain_graph=True, allow_unused=True)
                grads.append(torch.zeros_like(x1) if gc is None else gc)
        jac = torch.stack(grads, 1)  # n, classes, *x
        z = z.detach()
        rows = torch.arange(n, device=x1.device)
        df = z - z[rows, y][:, None]
        dg = jac - jac[rows, y][:, None]
        dual = dg.flatten(2).abs().sum(2) if self.norm == "Linf" else dg.flatten(2).norm(dim=2)
        score = df.abs() / (dual + 1e-12)
        score[rows, y] = float("inf")
        j = score.argmin(1)
        return df[rows, j], dg[rows, j]

    def _single_run(
        self,
        model: nn.Module,
        x0: Tensor,
        y: Tensor,
        gen: torch.Generator,
        target: Tensor | None,
        random_start: bool,
    ) -> tuple[Tensor, Tensor]:
        n = x0.shape[0]
        shape1 = (n, *([1] * (x0.dim() - 1)))
        best = torch.full((n,), float("inf"), device=x0.device)
        adv = x0.clone()
        x1 = x0.clone()
        if random_start:
            if self.norm == "Linf":
                r = 2 * torch.rand(x0.shape, generator=gen, device=x0.device) - 1
                r = r / (r.flatten(1).abs().amax(1).view(shape1) + 1e-12)
            else:
                r = torch.randn(x0.shape, generator=gen, device=x0.device)
                r = r / (_flat_norm(r) + 1e-12)
            x1 = (x0 + 0.5 * self.eps * r).clamp(0.0, 1.0)
        flat0 = x0.flatten(1)
        for _ in range(self.steps):
            f, g = self._boundary(model, x1, y, target)
            w = g.flatten(1)
            b = (w * x1.flatten(1)).sum(1) - f
            d = project_hyperplane_box(
                torch.cat([x1.flatten(1), flat0]), torch.cat([w, w]), torch.cat([b, b]), self.norm
            )
            d1, d2 = d[:n].view_as(x0), d[n:].view_as(x0)
            a1 = _dist(d1, self.norm).clamp_min(1e-8)
            a2 = _dist(d2, self.norm).clamp_min(1e-8)
            alpha = (a1 / (a1 + a2)).clamp(0.0, self.alpha_max).view(shape1)
            x1 = ((x1 + self.eta * d1) * (1 - alpha) + (x0 + self.eta * d2) * alpha).clamp(0.0, 1.0)
            with torch.no_grad():
                is_adv = model(x1).argmax(1) != y
            if is_adv.any():
                dist = _dist(x1 - x0, self.norm)
                closer = is_adv & (dist < best)
                adv[closer] = x1[closer]
                best[closer] = dist[closer]
                x1[is_adv] = x0[is_adv] + self.beta * (x1[is_adv] - x0[is_adv])
        fooled = best <= self.eps
        return torch.where(fooled.view(shape1), adv, x0), fooled

    def _targets(self, model: nn.Module, x: Tensor) -> list[Tensor | None]:
        return [None]

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, gen: torch.Generator) -> Tensor:
        out = x.clone()
        fooled = predict(model, x) != y
        for target in self._targets(model, x):
            for r in range(self.restarts):
                idx = (~fooled).nonzero().squeeze(1)
                if idx.numel() == 0:
                    return out
                t = None if target is None else target[idx]
                x_run, fooled_run = self._single_run(model, x[idx], y[idx], gen, t, random_start=r > 0)
                out[idx[fooled_run]] = x_run[fooled_run]
                fooled[idx[fooled_run]] = True
        return out


@register_attack("fab-t", "fab-targeted")
class FABT(FAB):
    """FAB-T: FAB towards each of the ``n_target_classes`` most likely other classes in turn."""

    targeted = True

    def __init__(self, eps: float, *, n_target_classes: int = 9, **kwargs: object) -> None:
        super().__init__(eps, **kwargs)  # type: ignore[arg-type]
        if n_target_classes < 1:
            raise ConfigError(f"FAB-T needs n_target_classes >= 1, got {n_target_classes}")
        self.n_target_classes = int(n_target_classes)

    def _targets(self, model: nn.Module, x: Tensor) -> list[Tensor | None]:
        with torch.no_grad():
            ranked = model(x).argsort(dim=1, descending=True)
        k_max = min(self.n_target_classes, ranked.shape[1] - 1)
        return [ranked[:, k] for k in range(1, k_max + 1)]

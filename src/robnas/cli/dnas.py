"""``robnas dnas``: differentiable robust architecture search (DARTS, DSRNA, E2RNAS)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

from robnas.cli._output import device_option, echo_json, json_option, plain_option, table
from robnas.errors import ConfigError
from robnas.progress import make_progress

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None)
console = Console(soft_wrap=True)
err_console = Console(stderr=True)


def _eps(value: float, what: str) -> float:
    if value < 0 or value > 255:
        raise ConfigError(f"{what} is in units of 1/255 (e.g. 8), got {value}")
    return value / 255


def _option_value(text: str) -> object:
    """``--option`` values: JSON (numbers, true/false, null, lists), else the plain string;
    lists become tuples (``objectives=["acc","rob"]``)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return tuple(value) if isinstance(value, list) else value


@app.command("search")
def search_cmd(
    space: str = typer.Option("nb201", "--space", help="Search space: nb201 or darts."),
    method: str = typer.Option(
        "darts", "--method", help="darts, dsrna-cb, dsrna-jacobian, e2rnas or darts-at."
    ),
    dataset: str = typer.Option("cifar10", "--dataset", help="Dataset (cifar10, digits, ...)."),
    epochs: int = typer.Option(5, "--epochs", help="Search epochs."),
    C: int = typer.Option(8, "--C", help="Channels of the first stage."),
    N: int = typer.Option(1, "--N", help="Cells per stage."),
    batch: int = typer.Option(64, "--batch", help="Batch size (training and validation halves)."),
    seed: int = typer.Option(0, "--seed", help="Seed (initialisation, batch order, attacks)."),
    n_train: int = typer.Option(
        5000, "--n-train", help="Images of the training split used (halved into train/val); 0 = all."
    ),
    order: str = typer.Option(
        "auto",
        "--order",
        help="Architecture gradient: first, second (unrolled) or auto (the method's own: e2rnas second).",
    ),
    hessian: str = typer.Option(
        "finite-difference", "--hessian", help="Second order: finite-difference (DARTS) or exact."
    ),
    gamma: float = typer.Option(None, "--gamma", help="Weight of the DSRNA robustness term."),
    option: list[str] = typer.Option(
        None, "--option", help="A method option KEY=VALUE, e.g. size_budget=0.05 (repeatable)."
    ),
    eps: float = typer.Option(None, "--eps", help="Epsilon of the method's attack or bound, in 1/255 units."),
    exclude_none: bool = typer.Option(
        False, "--exclude-none", help="NB201: never derive 'none' (DARTS' rule)."
    ),
    warmup_epochs: int = typer.Option(
        0, "--warmup-epochs", help="Epochs of weight training at fixed alpha before the search (PC-DARTS)."
    ),
    out: str = typer.Option(
        None, "--out", help="Run directory (checkpoints, history, result); resumes if present."
    ),
    device: str = device_option(),
    root: str = typer.Option(None, "--root", help="Data root."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Search a cell by gradient descent on a supernet; resumable with the same --out."""

    from robnas.checks import check_device, check_network_size, check_seed
    from robnas.dnas import SearchConfig, search
    from robnas.dnas.plots import plot_alpha_trajectories

    device = check_device(device)
    check_seed(seed)
    check_network_size(C, N)
    options: dict = {}
    if gamma is not None:
        if method not in ("dsrna-cb", "dsrna-jacobian"):
            raise ConfigError(f"--gamma applies to dsrna-cb and dsrna-jacobian, not {method}")
        options["gamma"] = gamma
    if eps is not None:
        if method not in ("e2rnas", "darts-at"):
            raise ConfigError(f"--eps applies to e2rnas and darts-at, not {method}")
        options["eps"] = _eps(eps, "--eps")
    for item in option or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option takes KEY=VALUE, got {item!r}")
        options[key.strip()] = _option_value(value.strip())
    cfg = SearchConfig(
        space=space,
        method=method,
        dataset=dataset,
        epochs=epochs,
        C=C,
        N=N,
        batch_size=batch,
        seed=seed,
        n_train=n_train or None,
        order=order,
        hessian=hessian,
        exclude_none=exclude_none,
        warmup_epochs=warmup_epochs,
        method_options=options,
        device=device,
        root=root,
    )
    out_dir = Path(out) if out else Path("runs") / f"dnas-{space}-{method}-s{seed}"
    with make_progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task(f"{method} on {space}", total=None, info="")

        def progress(epoch: int, total_epochs: int, step: int, steps: int, rec: dict) -> None:
            bar.update(
                task,
                total=total_epochs * steps,
                completed=epoch * steps + step,
                info=f"epoch {epoch + 1}/{total_epochs} upper {rec.get('upper', float('nan')):.3f}",
            )

        run = search(cfg, out_dir, progress=progress)
    plot = plot_alpha_trajectories(run.history, out_dir / "alphas.png", f"{method} on {space}, seed {seed}")
    result = json.loads((out_dir / "result.json").read_text())
    if as_json:
        echo_json(result)
        return
    console.print(f"found: {result['arch']}")
    if "index" in result:
        console.print(f"NAS-Bench-201 index {result['index']} (uid {result['uid']})")
    console.print(
        f"run directory: {out_dir}  (alpha plot: {plot.name}); evaluate with `robnas dnas eval {out_dir}`"
    )


@app.command("eval")
def eval_cmd(
    target: str = typer.Argument(
        ..., help="A search run directory, a NAS-Bench-201 cell/index or a DARTS Genotype(...)."
    ),
    epochs: int = typer.Option(3, "--epochs", help="DARTS genotypes: training epochs."),
    C: int = typer.Option(8, "--C", help="DARTS genotypes: channels."),
    layers: int = typer.Option(5, "--layers", help="DARTS genotypes: cells."),
    n_train: int = typer.Option(2000, "--n-train", help="DARTS genotypes: training images."),
    n_test: int = typer.Option(500, "--n-test", help="DARTS genotypes: test images attacked."),
    adversarial: bool = typer.Option(False, "--adv", help="DARTS genotypes: PGD-7 adversarial training."),
    attacks: str = typer.Option(
        "pgd", "--attacks", help="DARTS genotypes: attacks at --eps, comma-separated (pgd = PGD-20)."
    ),
    eps: float = typer.Option(8.0, "--eps", help="DARTS genotypes: epsilon in 1/255 units."),
    drop_path: float = typer.Option(0.0, "--drop-path", help="DARTS genotypes: drop-path probability."),
    auxiliary: bool = typer.Option(
        False, "--auxiliary", help="DARTS genotypes: train with DARTS' auxiliary head (left out of params)."
    ),
    auxiliary_weight: float = typer.Option(
        0.4, "--auxiliary-weight", help="DARTS genotypes: weight of the auxiliary head's loss (DARTS: 0.4)."
    ),
    seed: int = typer.Option(0, "--seed"),
    device: str = device_option(),
    root: str = typer.Option(None, "--root", help="Data root (datasets and benchmark files)."),
    as_json: bool = json_option(),
    plain: bool = plain_option(),
) -> None:
    """NB201 cells: benchmark values (jung2023, nasrobbench201, natsbench); genotypes: train and attack."""
    from robnas.checks import check_device, check_network_size, check_seed
    from robnas.dnas.evaluate import evaluate_genotype, is_run_dir, lookup_nb201, parse_found
    from robnas.spaces.darts import Genotype

    device = check_device(device)
    check_seed(seed)
    check_network_size(C, layers)
    found = parse_found(target)
    if isinstance(found, Genotype):
        out_dir = Path(target) / "eval" if is_run_dir(target) else None
        res = evaluate_genotype(
            found,
            C=C,
            layers=layers,
            epochs=epochs,
            n_train=n_train,
            n_test=n_test,
            eps=_eps(eps, "--eps"),
            adversarial=adversarial,
            attacks=tuple(a.strip() for a in attacks.split(",") if a.strip()),
            drop_path=drop_path,
            auxiliary=auxiliary,
            auxiliary_weight=auxiliary_weight,
            seed=seed,
            device=device,
            root=root,
            out_dir=out_dir,
        )
        if as_json:
            echo_json(res)
            return
        m = res["robustness"].get("metrics", {})
        extra = (
            f"; certified log10 radius {res['certified_log10_radius']:.2f}"
            if "certified_log10_radius" in res
            else ""
        )
        console.print(
            f"{found}\nparams {res['params']}; " + ", ".join(f"{k} {v:.3f}" for k, v in m.items()) + extra
        )
        return
    res = lookup_nb201(found, root)
    if as_json:
        echo_json(res)
        return
    rows = []
    for src in ("jung2023", "nasrobbench201", "natsbench"):
        vals = res[src]
        if "error" in vals:
            rows.append((src, "unavailable", vals["error"]))
            continue
        rows.extend((src, k, f"{v:.4f}") for k, v in vals.items())
    title = f"{res['arch']} (index {res['index']}, uid {res['uid']})"
    table(("source", "metric", "value"), rows, title=title, plain=plain, justify={"value": "right"})


@app.command("plot")
def plot_cmd(
    run_dir: str = typer.Argument(..., help="A search run directory."),
    out: str = typer.Option(None, "--out", help="Image file (default RUN_DIR/alphas.png)."),
    as_json: bool = json_option(),
) -> None:
    """Plot softmax(alpha) per edge over the epochs of a run."""
    from robnas.dnas.plots import load_history, plot_alpha_trajectories

    path = plot_alpha_trajectories(
        load_history(run_dir), out or Path(run_dir) / "alphas.png", Path(run_dir).name
    )
    if as_json:
        echo_json({"path": path})
        return
    console.print(f"wrote {path}")


def _option_text(key: str, value: object) -> str:
    """``eps=8/255`` (epsilons in 1/255 units for people), ``gamma=0.01``."""
    from robnas.units import format_epsilon

    if key == "eps" and isinstance(value, float):
        return f"{key}={format_epsilon(value, pixels=True, unit=True)}"
    return f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"


@app.command("methods")
def methods_cmd(as_json: bool = json_option()) -> None:
    """List the search methods and their options (epsilons in 1/255 units)."""
    from robnas.dnas.methods import METHODS, available_methods

    rows = []
    for name in available_methods():
        cls = METHODS.get(name)
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        opts = dict(cls.defaults)
        if isinstance(opts.get("eps"), float):
            opts["eps_255"] = opts.pop("eps") * 255  # the unit of --eps
        rows.append({"method": name, "help": doc, "defaults": opts})
        text = ", ".join(_option_text(k, v) for k, v in cls.defaults.items())
        if not as_json:
            console.print(f"[bold]{name}[/bold]: {doc}" + (f"  ({text})" if text else ""))
    if as_json:
        echo_json(rows)

"""``robnas data``: the dataset registry, files, checksums and downloads."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from robnas.cli._output import echo_json, json_option
from robnas.errors import DataError

if TYPE_CHECKING:  # robnas.data imports torch: load it only when a data command runs
    from robnas.data.registry import DatasetReader

app = typer.Typer(
    no_args_is_help=True, add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False
)

ROOT_HELP = (
    "Data root (default: $ROBNAS_DATA or the per-user data folder); for imagefolder the folder itself."
)


def _where(reader: DatasetReader) -> str:
    if reader.info.name == "digits":
        return "bundled with scikit-learn"
    return str(reader.folder)


@app.command("list")
def list_datasets(
    root: Path | None = typer.Option(None, "--root", help=ROOT_HELP),
    as_json: bool = json_option(),
) -> None:
    """List the registered datasets and whether their files are found under the data root."""
    rows: list[dict[str, Any]] = []
    from robnas.data import available_datasets, get_reader

    for name in available_datasets():
        if name == "imagefolder":
            where = "your folder: robnas data info imagefolder --root DIR"
            rows.append({"name": name, "status": "-", "where": where, "info": None})
            continue
        reader = get_reader(name, root)
        info = reader.info
        rows.append(
            {
                "name": name,
                "status": reader.availability(),
                "where": _where(reader),
                "info": info.description,
            }
        )
    if as_json:
        echo_json(rows)
        return
    width = max(len(r["name"]) for r in rows)
    typer.echo(f"{'name':<{width}}  {'files':<8}  location")
    for r in rows:
        typer.echo(f"{r['name']:<{width}}  {r['status']:<8}  {r['where']}")


def _split_report(reader: DatasetReader, split: str) -> dict[str, Any]:
    official = reader.info.splits.get(split)
    out: dict[str, Any] = {"split": split, "official_size": official or None}
    if not reader.split_available(split):
        specs = reader.info.files_for(split)
        from robnas.data.files import locate

        missing = [str(reader.folder / f.path) for f in specs if locate(reader.folder, f) is None]
        out.update(found=False, size=None, missing=missing)
        return out
    try:
        ds = reader.load(split)
    except DataError as exc:
        out.update(found=True, size=None, error=str(exc))
        return out
    counts = ds.class_counts()
    out.update(
        found=True,
        size=len(ds),
        shape=list(ds.images.shape[1:]),
        images_per_class={"min": int(counts.min()), "max": int(counts.max())},
    )
    return out


def _checksum_summary(statuses: list[Any]) -> str:
    from robnas.data.files import DIFFERS, MISSING

    states = {s.state for s in statuses}
    if not statuses:
        return "no official files to check"
    if all(s.ok for s in statuses):
        return "all files match the official release"
    if DIFFERS in states:
        return f"{DIFFERS} (a modified copy or subset: reading works, `--verify` fails)"
    if MISSING in states:
        return "some files missing; the others " + (
            "match the official release" if all(s.ok for s in statuses if s.state != MISSING) else "vary"
        )
    return "no official checksum known for some files"


@app.command("info")
def info(
    name: str = typer.Argument(..., help="Dataset name (see `robnas data list`)."),
    root: Path | None = typer.Option(None, "--root", help=ROOT_HELP),
    as_json: bool = json_option(),
    verify: bool = typer.Option(
        False, "--verify", help="Fail (exit 2) unless every file matches the official md5."
    ),
) -> None:
    """Sizes per split, classes, shapes, mean/std, checksum status, and where files are expected."""
    from robnas.data import get_reader

    reader = get_reader(name, root)
    if verify:
        reader.verify()
    statuses = reader.status(checksum=True)
    meta = reader.describe()
    report: dict[str, Any] = meta.to_dict()
    report["location"] = _where(reader)
    report["availability"] = reader.availability()
    report["split_report"] = [_split_report(reader, s) for s in reader.splits()]
    report["checksum"] = _checksum_summary(statuses)
    report["files"] = [s.to_dict() for s in statuses]
    if as_json:
        echo_json(report)
        return
    _print_info(report)


def _fmt(values: list[float]) -> str:
    return "(" + ", ".join(f"{v:.4f}" for v in values) + ")"


def _print_info(r: dict[str, Any]) -> None:
    echo = typer.echo
    echo(f"{r['name']}: {r['description']}")
    echo(f"  location:  {r['location']} ({r['availability']})")
    names = r["class_names"]
    shown = ", ".join(names[:10]) + (f", ... ({len(names)} in all)" if len(names) > 10 else "")
    echo(f"  classes:   {r['num_classes']}: {shown}")
    height, width = r["image_size"]
    echo(f"  image:     {r['channels']} x {height} x {width} (C x H x W), uint8 0..255")
    echo(f"  mean:      {_fmt(r['mean'])}")
    echo(f"  std:       {_fmt(r['std'])}  (pixels in [0, 1]; the model normalises)")
    echo(f"  augment:   random crop with zero padding; horizontal flip {'on' if r['hflip'] else 'off'}")
    for s in r["split_report"]:
        expected = f"{s['official_size']:,}" if s.get("official_size") else "-"
        label = f"  {s['split'] + ':':<10} "
        if not s["found"]:
            echo(f"{label}missing (full split: {expected}); expected {', '.join(s['missing'])}")
        elif s.get("error"):
            echo(f"{label}unreadable: {s['error']}")
        else:
            per = s["images_per_class"]
            spread = f"{per['min']:,}" if per["min"] == per["max"] else f"{per['min']:,} to {per['max']:,}"
            echo(f"{label}{s['size']:,} images (full split: {expected}), {spread} per class")
    echo(f"  checksum:  {r['checksum']}")
    if r["files"]:
        width = max(len(f["file"]) for f in r["files"])
        for f in r["files"]:
            echo(f"    {f['file']:<{width}}  {f['md5'] or '-':<32}  {f['status']}")
    if r["url"]:
        echo(f"  source:    {r['url']}")
    if r["citation"]:
        echo(f"  cite:      {r['citation']}")


@app.command("download")
def download(
    name: str = typer.Argument(..., help="Dataset name (see `robnas data list`)."),
    root: Path | None = typer.Option(None, "--root", help=ROOT_HELP),
    as_json: bool = json_option("Print the files and their checks as JSON."),
) -> None:
    """Download a dataset from its official address into the data root and check its md5s."""
    from robnas.data import get_reader

    reader = get_reader(name, root)
    statuses = reader.download(progress=True)
    if as_json:
        echo_json({"dataset": name, "folder": reader.folder, "files": statuses})
        return
    if not statuses:
        typer.echo(f"{name}: nothing to download ({_where(reader)}).")
        return
    typer.echo(f"{name}: {len(statuses)} files in {reader.folder} match the official release.")

"""Benchmarks read as their authors release them: NAS-RobBench-201's per-seed release.

The files are written by the tests in the release's exact layout (``res[dataset][uid][metric]
[seed]``, seeds ``'1'..'3'`` and ``'threeseed'``, a scalar ``autoattack``; ``meta.json`` as in
Jung et al.'s release), with the two values the authors' README prints for architecture 1000.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from robnas.benchmarks import get_source
from robnas.errors import ConfigError, DataError
from robnas.spaces.nb201 import NUM_ARCHS, Arch, uid_table

# the authors' README: cifar10, architecture 1000, seed 1
SEED1_FGSM3 = 0.6729999780654907
SEED1_PGD3 = 0.6680999994277954


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBNAS_CACHE", str(tmp_path_factory.mktemp("cache")))


def write_meta(folder: Path) -> None:
    uids = uid_table()
    ids = {
        str(i): {"nb201-string": Arch.from_index(i).string, "isomorph": str(uids[i])}
        for i in range(NUM_ARCHS)
    }
    (folder / "meta.json").write_text(json.dumps({"ids": ids}))


def release_cell(seeds: dict[str, float]) -> dict[str, float]:
    cell = dict(seeds)
    cell["threeseed"] = float(np.mean(list(seeds.values())))
    return cell


def write_release(root: Path, datasets: tuple[str, ...] = ("cifar10",)) -> dict:
    folder = root / "nas-robbench-201"
    folder.mkdir(parents=True, exist_ok=True)
    write_meta(folder)
    res: dict = {}
    for ds in datasets:
        res[ds] = {
            "1000": {
                "val_acc": release_cell({"1": 0.77, "2": 0.768, "3": 0.767}),
                "val_fgsm_3.0_acc": release_cell({"1": SEED1_FGSM3, "2": 0.6712, "3": 0.6706}),
                "val_pgd_3.0_acc": release_cell({"1": SEED1_PGD3, "2": 0.6655, "3": 0.6653}),
                "val_fgsm_8.0_acc": release_cell({"1": 0.512, "2": 0.511, "3": 0.5106}),
                "val_pgd_8.0_acc": release_cell({"1": 0.463, "2": 0.4625, "3": 0.4630}),
                "autoattack": 0.426,
            },
            "0": {
                "val_acc": release_cell({"1": 0.5, "2": 0.6, "3": 0.7}),
                "val_pgd_8.0_acc": {"1": 0.2, "2": 0.3, "threeseed": 0.25},
                "autoattack": 0.1,
            },
        }
    (folder / "NAS-RobBench-201_all.json").write_text(json.dumps(res))
    return res


def test_release_seed_values_and_mean(tmp_path: Path) -> None:
    write_release(tmp_path)
    src = get_source("nasrobbench201", tmp_path)
    assert "NAS-RobBench-201_all.json" in src.reading()
    assert src.seeds() == ["1", "2", "3"]
    one = src.query(1000, ["cifar10/fgsm@3", "cifar10/pgd@3"], seed=1)
    assert one == {"cifar10/fgsm@3": pytest.approx(SEED1_FGSM3), "cifar10/pgd@3": pytest.approx(SEED1_PGD3)}
    mean = src.query(1000, "cifar10/fgsm@3")
    assert mean["cifar10/fgsm@3"] == pytest.approx(np.mean([SEED1_FGSM3, 0.6712, 0.6706]), abs=1e-6)
    # seed spread: the sample standard deviation over the three seeds
    std = src.query(1000, "cifar10/fgsm@3/seed-std")["cifar10/fgsm@3/seed-std"]
    assert std == pytest.approx(np.std([SEED1_FGSM3, 0.6712, 0.6706], ddof=1), rel=1e-5)
    # isomorphs share their class's values; an architecture absent from the file is NaN
    iso = next(i for i in range(NUM_ARCHS) if uid_table()[i] == 1000 and i != 1000)
    assert src.query(iso, "cifar10/pgd@3", seed="1")["cifar10/pgd@3"] == pytest.approx(SEED1_PGD3)
    assert np.isnan(src.query(5, "cifar10/pgd@3")["cifar10/pgd@3"])
    # AutoAttack is one run: a mean value, no seeds
    per = src.query_seeds(1000, ["cifar10/autoattack@8", "cifar10/clean"])
    assert per["cifar10/autoattack@8"] == {"mean": pytest.approx(0.426)}
    assert set(per["cifar10/clean"]) == {"1", "2", "3", "mean"}
    with pytest.raises(Exception, match="only as one value, not per seed"):
        src.query(1000, "cifar10/autoattack@8", seed="2")


def test_release_two_seeds_and_frame(tmp_path: Path) -> None:
    write_release(tmp_path, ("cifar10", "imagenet"))
    src = get_source("nasrobbench201", tmp_path)
    df = src.frame(["cifar10/pgd@8", "cifar10/pgd@8/seed-std", "imagenet16-120/clean"])
    assert df.loc[0, "cifar10/pgd@8"] == pytest.approx(0.25)
    assert df.loc[0, "cifar10/pgd@8/seed-std"] == pytest.approx(np.std([0.2, 0.3], ddof=1))
    assert df.loc[0, "imagenet16-120/clean"] == pytest.approx(0.6)
    seed2 = src.frame(["cifar10/pgd@8"], seed="2")
    assert seed2.loc[0, "cifar10/pgd@8"] == pytest.approx(0.3)
    # no cifar100 in this file: its metrics are not offered
    assert not any(m.dataset == "cifar100" for m in src.metrics())
    with pytest.raises(ConfigError, match="no seed '4'; seeds: 1, 2, 3"):
        src.values("cifar10/clean", seed=4)


def test_page_file_has_means_only(shared_data: Path) -> None:
    src = get_source("nasrobbench201", shared_data)
    assert "NAS-RobBench-201_html.json" in src.reading() and src.seeds() == []
    with pytest.raises(ConfigError, match="no per-seed values"):
        src.query(1000, "cifar10/pgd@3", seed="1")
    assert src.query(1000, "cifar10/pgd@3")["cifar10/pgd@3"] == pytest.approx(0.6663, abs=5e-5)


@pytest.mark.parametrize("bad", [True, "0.5", [0.1]])
def test_release_refuses_non_numbers(tmp_path: Path, bad: object) -> None:
    res = write_release(tmp_path)
    res["cifar10"]["1000"]["val_acc"]["2"] = bad
    (tmp_path / "nas-robbench-201" / "NAS-RobBench-201_all.json").write_text(json.dumps(res))
    with pytest.raises(DataError, match="NAS-RobBench-201_all.json is corrupt"):
        get_source("nasrobbench201", tmp_path).metrics()


def test_page_json_true_is_refused(tmp_path: Path, shared_data: Path) -> None:
    """issue 11: a JSON ``true`` where an accuracy belongs was read as 1.0."""
    folder = tmp_path / "nas-robbench-201"
    folder.mkdir()
    text = (shared_data / "nas-robbench-201" / "NAS-RobBench-201_html.json").read_text()
    acc = json.loads(text[text.index("{") :].rstrip().rstrip(";"))
    acc["1000"][0] = True
    (folder / "NAS-RobBench-201_html.json").write_text("acc=" + json.dumps(acc))
    with pytest.raises(DataError, match="values must be numbers, found True"):
        get_source("nasrobbench201", tmp_path).metrics()


def test_cli_seed_query(tmp_path: Path, cli) -> None:
    write_release(tmp_path)
    root = str(tmp_path)
    code, out, err = cli(
        "bench", "query", "nasrobbench201", "1000", "-m", "cifar10/fgsm@3", "--seed", "1", "--root", root
    )
    assert code == 0, err
    assert "0.6730" in out and "seed 1" in out and "NAS-RobBench-201_all.json" in out
    code, out, _ = cli(
        "bench",
        "query",
        "nasrobbench201",
        "1000",
        "-m",
        "cifar10/fgsm@3",
        "--seed",
        "1",
        "--json",
        "--root",
        root,
    )
    assert code == 0 and json.loads(out)["values"]["cifar10/fgsm@3"] == pytest.approx(SEED1_FGSM3)
    code, out, _ = cli(
        "bench",
        "query",
        "nasrobbench201",
        "1000",
        "-m",
        "cifar10/pgd@3",
        "--seed",
        "all",
        "--json",
        "--root",
        root,
    )
    got = json.loads(out)["values"]["cifar10/pgd@3"]
    assert code == 0 and got["1"] == pytest.approx(SEED1_PGD3) and set(got) == {"1", "2", "3", "mean", "std"}
    code, out, _ = cli(
        "bench", "query", "nasrobbench201", "1000", "-m", "cifar10/pgd@3", "--seed", "all", "--root", root
    )
    assert code == 0 and "seed 1" in out and "std" in out
    code, out, err = cli("bench", "query", "nasrobbench201", "1000", "--seed", "9", "--root", root)
    assert code != 0 and "no seed '9'" in out + err


# ---------------------------------------------------------------------- Jung et al.: any subset
def _jung_subset(root: Path, shared_data: Path) -> Path:
    folder = root / "robustness-dataset"
    folder.mkdir(parents=True)
    (folder / "meta.json").write_bytes((shared_data / "robustness-dataset" / "meta.json").read_bytes())
    meta = json.loads((folder / "meta.json").read_text())
    reps = [i for i in range(NUM_ARCHS) if uid_table()[i] == i]
    # ImageNet16-120 alone: clean accuracy, in the release's layout
    (folder / "ImageNet16-120").mkdir()
    clean = {str(u): 0.3 + (u % 7) / 100 for u in reps}
    payload = {"ImageNet16-120": {"clean": {"accuracy": clean}}}
    (folder / "ImageNet16-120" / "clean_accuracy.json").write_text(json.dumps(payload))
    # CIFAR-10 PGD accuracy and confidence only
    (folder / "cifar10").mkdir()
    n_eps = len(meta["epsilons"]["pgd@Linf"])
    for quantity, base in (("accuracy", 0.5), ("confidence", 0.7)):
        values = {str(u): [base - j / 100 for j in range(n_eps)] for u in reps}
        payload = {"cifar10": {"pgd@Linf": {quantity: values}}}
        (folder / "cifar10" / f"pgd@Linf_{quantity}.json").write_text(json.dumps(payload))
    cm = {str(u): [[5, 1], [2, 7]] for u in reps}
    (folder / "cifar10" / "clean_cm.json").write_text(json.dumps({"cifar10": {"clean": {"cm": cm}}}))
    return folder


def test_jung_reads_any_subset(tmp_path: Path, shared_data: Path, cli) -> None:
    _jung_subset(tmp_path, shared_data)
    src = get_source("jung2023", tmp_path)
    assert src.available()
    names = {str(m) for m in src.metrics()}
    assert (
        "imagenet16-120/clean" in names and "cifar10/pgd@8" in names and "cifar10/pgd@8/confidence" in names
    )
    assert not any(n.startswith("cifar100") for n in names) and "cifar10/adversarial-mean" not in names
    assert src.query(7, "imagenet16-120/clean")["imagenet16-120/clean"] == pytest.approx(0.3 + 7 % 7 / 100)
    # what is missing is said when it is asked for, naming the file
    with pytest.raises(DataError, match=r"cifar100/fog#3 is in the release file cifar100/fog_accuracy\.json"):
        src.query(0, "cifar100/fog#3")
    with pytest.raises(DataError, match=r"cifar10/fgsm@Linf_confidence\.json"):
        src.values("cifar10/fgsm@8/confidence")
    code, out, err = cli(
        "bench", "query", "jung2023", "0", "-m", "cifar10/pgd@8/confidence", "--root", str(tmp_path)
    )
    assert code == 0 and "cifar10/pgd@8/confidence" in out and "0.6400" in out, err
    code, out, err = cli(
        "bench", "cm", "jung2023", "0", "-m", "cifar10/clean", "--root", str(tmp_path), "--json"
    )
    assert code == 0 and json.loads(out)["confusion_matrix"] == [[5, 1], [2, 7]], err
    code, out, err = cli("bench", "cm", "jung2023", "0", "-m", "cifar10/clean", "--root", str(tmp_path))
    assert code == 0 and "accuracy 12/15" in out
    code, out, err = cli("bench", "cm", "jung2023", "0", "-m", "cifar10/fog#3", "--root", str(tmp_path))
    assert code != 0 and "fog_cm.json not found" in out + err
    code, out, err = cli("bench", "cm", "nasrobbench201", "0", "--root", str(shared_data))
    assert code != 0 and "no confusion matrices" in out + err


def test_jung_cm_on_shared_data(shared_data: Path, cli) -> None:
    code, out, err = cli(
        "bench", "cm", "jung2023", "1000", "-m", "cifar10/clean", "--root", str(shared_data), "--json"
    )
    assert code == 0, err
    cm = np.array(json.loads(out)["confusion_matrix"])
    acc = get_source("jung2023", shared_data).query(1000, "cifar10/clean")["cifar10/clean"]
    assert cm.shape == (10, 10) and cm.sum() == 10000
    assert cm.trace() / cm.sum() == pytest.approx(acc, abs=1e-4)


def test_zerocost_json_true_is_refused(tmp_path: Path, shared_data: Path) -> None:
    """issue 11: JSON ``true`` where a number belongs was read as 1.0."""
    data = json.loads((shared_data / "zero-cost" / "zc_nasbench201.json").read_text())
    key = next(iter(data["cifar10"]))
    data["cifar10"][key]["val_accuracy"] = True
    (tmp_path / "zero-cost").mkdir()
    (tmp_path / "zero-cost" / "zc_nasbench201.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match="True is not a number"):
        get_source("zerocost", tmp_path).metrics()

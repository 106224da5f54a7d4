"""Evidence on real CIFAR-10 (slow): PGD-AT buys robustness, standard training buys clean accuracy."""

from __future__ import annotations

import pytest
import torch

from robnas.attacks import evaluate_robustness
from robnas.data import load_dataset, train_val_split
from robnas.models import build_network
from robnas.training import get_preset, train


@pytest.mark.slow
def test_pgd_at_beats_standard_training_under_attack(shared_data, tmp_path) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        full = load_dataset("cifar10", "train", root=shared_data)
        tr, _ = train_val_split(full, val_size=len(full) - 3000, seed=0)  # a stratified 3,000-image subset
        te = load_dataset("cifar10", "test", root=shared_data)
        info = tr.info
        res = {}
        for name in ("cpu-tiny", "cpu-tiny-at"):
            p = get_preset(name).replace(epochs=4)
            torch.manual_seed(0)
            model = build_network(
                0, C=p.C, N=p.N, num_classes=10, in_channels=3, mean=info.mean, std=info.std
            )
            train(model, tr, None, p, seed=0, out_dir=tmp_path / name, progress=False)
            r = evaluate_robustness(model, te, [("pgd", {"steps": 10})], [8 / 255], n=500, checks=False)
            res[name] = (r.clean_accuracy, r.accuracy["pgd"][8 / 255])
        print(res)
        (std_clean, std_pgd), (at_clean, at_pgd) = res["cpu-tiny"], res["cpu-tiny-at"]
        assert at_pgd > std_pgd + 0.05
        assert std_clean > at_clean
    finally:
        torch.set_num_threads(threads)

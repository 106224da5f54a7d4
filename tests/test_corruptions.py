"""Evidence for the CIFAR-10-C corruptions: shapes, ranges, determinism, severity ordering."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from robnas.attacks import available_corruptions, corrupt
from robnas.errors import ConfigError

# With the reference parameters these are not ordered by distance from the clean image
# (glass blur: sigma 0.4 once at severity 3 vs 0.25 twice at 4; elastic: the affine part shrinks
# with severity); frost is ordered by how much of the image it hides, checked by correlation.
NOT_DISTANCE_MONOTONE = {"glass_blur", "elastic_transform", "frost"}


@pytest.fixture(scope="module")
def cifar(shared_data) -> torch.Tensor:
    with open(shared_data / "cifar10" / "cifar-10-batches-py" / "test_batch", "rb") as f:
        d = pickle.load(f, encoding="bytes")
    return torch.from_numpy(d[b"data"][:8].reshape(-1, 3, 32, 32)).float() / 255


def _decorrelation(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten(1), b.flatten(1)
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return float((1 - (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + 1e-9)).mean())


def test_fifteen_corruptions() -> None:
    assert len(available_corruptions()) == 15
    assert set(available_corruptions()) == {
        "brightness", "contrast", "defocus_blur", "elastic_transform", "fog", "frost", "gaussian_noise",
        "glass_blur", "impulse_noise", "jpeg_compression", "motion_blur", "pixelate", "shot_noise", "snow",
        "zoom_blur",
    }  # fmt: skip


@pytest.mark.parametrize("name", available_corruptions())
def test_corruption(cifar, name) -> None:
    x = cifar
    dists, decor = [], []
    for s in range(1, 6):
        out = corrupt(x, name, s, seed=3)
        assert out.shape == x.shape and out.dtype == x.dtype
        assert float(out.min()) >= 0 and float(out.max()) <= 1
        assert torch.equal(out, corrupt(x, name, s, seed=3))  # deterministic
        assert torch.allclose(out * 255, torch.round(out * 255), atol=1e-3)  # 8-bit grid, as CIFAR-10-C
        dists.append(float((out - x).abs().mean()))
        decor.append(_decorrelation(x, out))
    assert dists[0] > 0
    if name not in NOT_DISTANCE_MONOTONE:
        assert all(a <= b + 1e-4 for a, b in zip(dists, dists[1:], strict=False)), dists
    else:
        assert dists[-1] > 0.01
    if name == "frost":
        assert all(a <= b + 1e-4 for a, b in zip(decor, decor[1:], strict=False)), decor
    # per-image randomness does not depend on the rest of the batch
    assert torch.equal(corrupt(x[:3], name, 3, seed=3), corrupt(x, name, 3, seed=3)[:3])


@pytest.mark.parametrize("name", available_corruptions())
def test_any_size_and_greyscale(name) -> None:
    rng = np.random.default_rng(0)
    grey = rng.random((2, 1, 20, 28)).astype(np.float32)
    out = corrupt(grey, name, 5)
    assert out.shape == grey.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    u8 = (rng.random((2, 3, 8, 8)) * 255).astype(np.uint8)
    out8 = corrupt(u8, name, 2, seed=1)
    assert out8.dtype == np.uint8 and out8.shape == u8.shape


def test_seed_matters_for_random_corruptions(cifar) -> None:
    for name in ("gaussian_noise", "fog", "snow", "motion_blur"):
        assert not torch.equal(corrupt(cifar, name, 3, seed=0), corrupt(cifar, name, 3, seed=1))


def test_reference_formulas_on_constant_images() -> None:
    x = np.full((1, 3, 4, 4), 0.5, dtype=np.float64)
    assert np.allclose(corrupt(x, "contrast", 5, quantize=False), 0.5)  # mean-preserving
    b = corrupt(x, "brightness", 5, quantize=False)  # V + 0.3 on a grey image
    assert np.allclose(b, 0.8)


def test_errors() -> None:
    x = np.zeros((1, 3, 8, 8), dtype=np.float32)
    with pytest.raises(ConfigError, match="unknown corruption"):
        corrupt(x, "rain", 1)
    with pytest.raises(ConfigError, match="severity"):
        corrupt(x, "fog", 6)
    with pytest.raises(ValueError, match="C = 1 or 3"):
        corrupt(np.zeros((1, 2, 8, 8), dtype=np.float32), "fog", 1)

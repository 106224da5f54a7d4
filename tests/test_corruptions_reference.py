"""glass_blur and frost against literal re-implementations of the CIFAR-10-C reference procedure.

The reference is ``ImageNet-C/create_c/make_cifar_c.py`` of hendrycks/robustness. Each reference
function below follows its statements one by one on a uint8 HWC image (the swap statement on
NumPy views included), taking its random numbers from a NumPy ``Generator`` seeded as
:func:`robnas.attacks.corrupt` seeds image ``i`` (``(seed, severity, i)``), with one draw per
statement as the reference makes them. scikit-image's ``gaussian`` is SciPy's filter with its
defaults (mode ``nearest``, truncate 4); OpenCV's ``imread`` + ``resize(fx=0.2)`` of the
photographs is the bundled layer (checked with OpenCV when the layers were made, see
``tools/make_frost_layers.py``); here the bundled pixels are pinned by hash.
"""

from __future__ import annotations

import hashlib
import pickle
import warnings

import numpy as np
import pytest
from scipy import ndimage

from robnas.attacks import corrupt
from robnas.attacks.corruptions import FROST_FILES, frost_layers


def _sk_gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    return ndimage.gaussian_filter(x, sigma=(sigma, sigma, 0), mode="nearest", truncate=4.0)


def reference_glass_blur(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)][severity - 1]
    x = np.uint8(_sk_gaussian(np.array(img) / 255.0, c[0]) * 255)
    n = x.shape[0]
    for _ in range(c[2]):
        for h in range(n - c[1], c[1], -1):
            for w in range(n - c[1], c[1], -1):
                dx, dy = rng.integers(-c[1], c[1], size=(2,))
                h_prime, w_prime = h + dy, w + dx
                x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime], x[h, w]  # the reference's statement
    return np.uint8(np.clip(_sk_gaussian(x / 255.0, c[0]), 0, 1) * 255)


def true_swap_glass_blur(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)][severity - 1]
    x = np.uint8(_sk_gaussian(np.array(img) / 255.0, c[0]) * 255)
    n = x.shape[0]
    for _ in range(c[2]):
        for h in range(n - c[1], c[1], -1):
            for w in range(n - c[1], c[1], -1):
                dx, dy = rng.integers(-c[1], c[1], size=(2,))
                h_prime, w_prime = h + dy, w + dx
                x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime].copy(), x[h, w].copy()
    return np.uint8(np.clip(_sk_gaussian(x / 255.0, c[0]), 0, 1) * 255)


def reference_frost(img: np.ndarray, severity: int, rng: np.random.Generator, photos) -> np.ndarray:
    c = [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)][severity - 1]
    idx = rng.integers(5)
    frost = photos[idx]  # cv2.resize(cv2.imread(file), (0, 0), fx=0.2, fy=0.2), RGB order
    x_start, y_start = rng.integers(0, frost.shape[0] - 32), rng.integers(0, frost.shape[1] - 32)
    frost = frost[x_start : x_start + 32, y_start : y_start + 32]
    return np.uint8(np.clip(c[0] * np.array(img) + c[1] * frost, 0, 255))


@pytest.fixture(scope="module")
def images(shared_data) -> np.ndarray:
    with open(shared_data / "cifar10" / "cifar-10-batches-py" / "test_batch", "rb") as f:
        d = pickle.load(f, encoding="bytes")
    return d[b"data"][:6].reshape(-1, 3, 32, 32)  # uint8 NCHW


def _per_image(images: np.ndarray, severity: int, seed: int, fn, *args) -> np.ndarray:
    out = np.empty_like(images)
    for i, img in enumerate(images):
        rng = np.random.default_rng((seed, severity, i))
        out[i] = fn(img.transpose(1, 2, 0), severity, rng, *args).transpose(2, 0, 1)
    return out


def _assert_same_up_to_truncation(ours: np.ndarray, ref: np.ndarray) -> None:
    """Equal, except where the reference truncates a float a hair below an integer (183.9999999
    -> 183) that robnas's quantisation (``floor(v + 1e-6)``) rounds up: one level, rarely."""
    diff = np.abs(ours.astype(int) - ref.astype(int))
    assert diff.max() <= 1 and np.mean(diff > 0) < 0.01


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_glass_blur_is_the_reference_procedure(images, severity) -> None:
    ref = _per_image(images, severity, 7, reference_glass_blur)
    ours = corrupt(images, "glass_blur", severity, seed=7)
    _assert_same_up_to_truncation(ours, ref)
    swapped = _per_image(images, severity, 7, true_swap_glass_blur)
    _assert_same_up_to_truncation(corrupt(images, "glass_blur_swap", severity, seed=7), swapped)
    assert np.abs(ours.astype(int) - swapped.astype(int)).max() > 10  # the quirk matters


def test_reference_swap_statement_copies() -> None:
    """The reason for the above: on NumPy views the swap statement copies one way only."""
    x = np.array([[[1, 1, 1], [2, 2, 2]]], dtype=np.uint8)
    x[0, 1], x[0, 0] = x[0, 0], x[0, 1]
    assert x.tolist() == [[[1, 1, 1], [1, 1, 1]]]


def test_bundled_frost_photographs() -> None:
    """Pixels of the bundled layers (the reference photographs shrunk as OpenCV does)."""
    pinned = {
        "frost1.png": (120, 180, "0feecc052950beb9"),
        "frost2.png": (63, 112, "3c026bc788b20cc9"),
        "frost3.png": (63, 112, "3c026bc788b20cc9"),
        "frost4.png": (70, 105, "9e396e6c26332940"),
        "frost5.png": (99, 132, "a0e95c89d7551746"),
    }
    layers = frost_layers()
    assert layers is not None and len(layers) == len(FROST_FILES) == 5
    for name, layer in zip(FROST_FILES, layers, strict=True):
        h, w, digest = pinned[name]
        assert layer.shape == (h, w, 3) and layer.dtype == np.uint8
        assert hashlib.sha256(layer.tobytes()).hexdigest()[:16] == digest
    # the photographs are brighter than the old synthetic layer (mean about 0.45)
    assert 0.55 < np.mean([lay.mean() / 255 for lay in layers]) < 0.7


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_frost_is_the_reference_procedure(images, severity) -> None:
    photos = frost_layers()
    ref = _per_image(images, severity, 11, reference_frost, photos)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback for 32 x 32 images
        ours = corrupt(images, "frost", severity, seed=11)
    _assert_same_up_to_truncation(ours, ref)


def test_frost_falls_back_with_a_warning_on_large_images() -> None:
    x = np.full((1, 3, 80, 80), 0.5, dtype=np.float32)
    with pytest.warns(UserWarning, match="synthetic frost"):
        out = corrupt(x, "frost", 3)
    rng = np.random.default_rng((0, 3, 0))
    from robnas.attacks.corruptions import frost_synthetic

    expected = (
        np.floor(
            np.clip(frost_synthetic(x[0].transpose(1, 2, 0).astype(np.float64), 3, rng), 0, 1) * 255 + 1e-6
        )
        / 255
    )
    assert np.allclose(out[0], expected.transpose(2, 0, 1).astype(np.float32))

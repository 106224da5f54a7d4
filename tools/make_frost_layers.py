"""Write the frost layers bundled with robnas (``src/robnas/attacks/frost/``) from the originals.

The CIFAR-10-C ``frost`` corruption (hendrycks/robustness, ``ImageNet-C/create_c/make_cifar_c.py``,
Apache-2.0) reads one of the photographs ``frost1.png`` ... ``frost5.jpg`` with OpenCV, shrinks it
with ``cv2.resize(frost, (0, 0), fx=0.2, fy=0.2)`` and crops 32x32 pixels at random. With the
default ``INTER_LINEAR`` and a factor of exactly 1/5, OpenCV samples the source at
``5 i + 2`` with weight 1 (half-pixel centres: ``(i + 0.5) * 5 - 0.5``), so the shrunken
photograph is ``image[2::5, 2::5]`` cut to ``round(0.2 * size)``; this was checked against
OpenCV 5.0.0 (``cv2.imread`` + ``cv2.resize``), and Pillow decodes the six files to the same
pixels as ``cv2.imread`` (PNG alpha dropped, JPEG with the same decoder). robnas therefore ships
only the shrunken layers (about 1/25 of the pixels), which are exactly what the reference crops.

    python tools/make_frost_layers.py DIR_WITH_ORIGINALS

The originals are in the hendrycks/robustness repository at ``ImageNet-C/create_c/``; their
SHA-256 digests are checked before anything is written.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ORIGINALS = {
    "frost1.png": "ff9f907860bd7a835d459e32f9d588062b7f61ee267343cc7222b56753a14755",
    "frost2.png": "fe211a89b336999c207a852ce05818d4545d0b57c5beadd824b4cc9d9a9b6137",
    "frost3.png": "2d0d50b4a9bb213f38b024ef7768731bb83cc08d2f26b5766bbc167cdfa0e504",
    "frost4.jpg": "3f8b91ca1a9fa7167b09e773da53f5ae60d0a1fd88f02a783f6e328a72887f6e",
    "frost5.jpg": "5fc6a19df4a429ba68abdcc8f8a4278d4c9f81c9ccafd2c92ab0c8cf8992ebd2",
}
OUT = Path(__file__).resolve().parents[1] / "src" / "robnas" / "attacks" / "frost"


def shrink(path: Path) -> np.ndarray:
    """``cv2.resize(cv2.imread(path), (0, 0), fx=0.2, fy=0.2)`` in RGB order (see above)."""
    rgb = np.asarray(Image.open(path).convert("RGB"))
    h, w = (int(round(0.2 * n)) for n in rgb.shape[:2])
    return np.ascontiguousarray(rgb[2::5, 2::5][:h, :w])


def main(folder: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, digest in ORIGINALS.items():
        src = Path(folder) / name
        got = hashlib.sha256(src.read_bytes()).hexdigest()
        if got != digest:
            sys.exit(f"{src}: SHA-256 {got} is not the reference file's {digest}")
        layer = shrink(src)
        Image.fromarray(layer, mode="RGB").save(OUT / f"{Path(name).stem}.png", optimize=True)
        print(f"{name}: {layer.shape[1]}x{layer.shape[0]} -> {OUT / (Path(name).stem + '.png')}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tools/make_frost_layers.py DIR_WITH_ORIGINALS")
    main(sys.argv[1])

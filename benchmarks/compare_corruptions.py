"""Generated vs released corruptions: how close are robnas's corruptions to CIFAR-10-C?

robnas re-implements the 15 corruptions of Hendrycks and Dietterich (ICLR 2019) in
:mod:`robnas.attacks.corruptions`; the released CIFAR-10-C (https://zenodo.org/record/2535967)
holds the authors' corrupted test images, block ``s`` of ``<corruption>.npy`` being the 10,000
test images in test-set order at severity ``s``. For the first ``--n`` test images this script
measures, per corruption and severity:

* ``mad``: the mean absolute pixel difference, in units of 1/255, between robnas's corruption of
  test image ``i`` and the released image ``i`` (0 = identical; random corruptions -- noise,
  glass blur, frost crops, snow, spatter -- differ by their random draws even when the procedure
  is the same, so compare them against ``mad_ref``);
* ``mad_ref``: the mean absolute difference between the released image and the clean one (how
  strong the corruption is), so ``mad / mad_ref`` is a relative error;
* with ``--checkpoint``, the accuracy of a trained network on both versions.

It needs the original CIFAR-10 test batch (``ROOT/cifar10/cifar-10-batches-py/test_batch``) and
the released ``ROOT/CIFAR-10-C/*.npy``. Note that the shared reference data's CIFAR-10 is decoded
from JPEG (about 6/255 from the originals): with it ``mad`` includes that offset; use the
official ``cifar-10-python.tar.gz`` for a clean comparison. When the release is absent the script
says which files to put where and exits with status 2.

    python benchmarks/compare_corruptions.py --root DATA_ROOT [--n 1000] [--checkpoint run/checkpoint.pt]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="data root holding cifar10/ and CIFAR-10-C/")
    parser.add_argument("--n", type=int, default=1000, help="test images per corruption and severity")
    parser.add_argument("--corruptions", default="all", help="comma-separated names or 'all'")
    parser.add_argument("--severities", default="1,2,3,4,5")
    parser.add_argument("--checkpoint", default=None, help="a checkpoint of `robnas train` (optional)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from robnas.attacks.corruptions import available_corruptions, corrupt
    from robnas.data import get_reader, load_dataset
    from robnas.data.corrupted import split_name
    from robnas.errors import RobnasError

    names = available_corruptions() if args.corruptions == "all" else args.corruptions.split(",")
    sevs = [int(s) for s in args.severities.split(",")]
    reader = get_reader("cifar10-c", args.root)
    missing = [
        p.path for p in reader.info.files if p.path.removesuffix(".npy") in names or p.path == "labels.npy"
    ]
    missing = [p for p in missing if not (reader.folder / p).is_file()]
    if missing:
        print(
            f"the released CIFAR-10-C is not here: missing {', '.join(missing[:4])}"
            f"{' ...' if len(missing) > 4 else ''} in {reader.folder}; {reader.how_to_get()}",
            file=sys.stderr,
        )
        return 2
    try:
        clean = load_dataset("cifar10", "test", root=args.root)
    except RobnasError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    n = min(args.n, len(clean))
    x0 = clean.images[:n].numpy()
    model = None
    if args.checkpoint:
        from robnas.training import model_from_checkpoint

        model = model_from_checkpoint(args.checkpoint)[0].eval()
    rows = []
    for c in names:
        for s in sevs:
            released = load_dataset("cifar10-c", split_name(c, s), root=args.root)
            xr = released.images[:n].numpy().astype(np.float64)
            xg = corrupt(x0, c, s, seed=args.seed).astype(np.float64)
            row = {
                "corruption": c,
                "severity": s,
                "n": n,
                "mad": float(np.abs(xg - xr).mean()),
                "mad_ref": float(np.abs(xr - x0.astype(np.float64)).mean()),
            }
            if model is not None:
                import torch

                with torch.no_grad():
                    y = clean.labels[:n]
                    for key, arr in (("acc_generated", xg), ("acc_released", xr)):
                        logits = model(torch.as_tensor(arr / 255.0, dtype=torch.float32))
                        row[key] = float((logits.argmax(1) == y).float().mean())
            rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for r in rows:
        extra = (
            f"  acc gen {r['acc_generated']:.3f} rel {r['acc_released']:.3f}" if "acc_generated" in r else ""
        )
        print(
            f"{r['corruption']:<18} {r['severity']}  mad {r['mad']:6.2f}/255  "
            f"(corruption strength {r['mad_ref']:6.2f}/255){extra}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

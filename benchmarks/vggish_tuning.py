"""VGGish's CPU tuning knobs on this machine: examples/s of each variant against TensorFlow.

``yt8m.features.vggish`` runs its convolutions in chunks of ``CONV_CHUNK`` examples and
uses Winograd for the layers with at least ``WINOGRAD_MIN_CHANNELS`` input channels. The
best values depend on the CPU's caches and vector units; this script measures a grid of
them at one batch size, interleaved with TensorFlow's VGGish on the same checkpoint (so
that both see the same load), and prints each as a ratio to TensorFlow, best of
``--repeat`` runs.

    pip install tensorflow-cpu   # the peer
    python benchmarks/vggish_tuning.py [--batch 128] [--repeat 5]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

_TF_WORKER = r"""
import sys, time, os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf
CKPT, EXAMPLES = sys.argv[1], sys.argv[2]
@@TF_VGGISH@@
ex = np.load(EXAMPLES)
vsess.run(emb, {x: ex})
print("ready", flush=True)
for line in sys.stdin:
    t = time.perf_counter()
    vsess.run(emb, {x: ex})
    print(time.perf_counter() - t, flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "yt8m-bench")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--chunks", default="4,8,16,32", help="CONV_CHUNK values")
    parser.add_argument("--winograd", default="128,256,100000",
                        help="WINOGRAD_MIN_CHANNELS values (100000: none)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    _common.ensure_weights(args.work)

    import numpy as np
    import torch

    from yt8m.features import vggish as module

    # Log-mel-like values; the compute does not depend on them.
    examples = np.random.default_rng(0).uniform(-4.6, 3.0, (args.batch, 96, 64)).astype(np.float32)
    path = args.work / f"vggish_tuning_{args.batch}.npy"
    np.save(path, examples)
    ckpt = args.work / "official" / "vggish_model.ckpt"
    if not ckpt.exists():  # real weights already in $YT8M_HOME: the downloaded checkpoint
        from yt8m.artifacts import cache

        ckpt = cache.downloads_dir() / "vggish_model.ckpt"
    peer = _common.TfPeer(_TF_WORKER.replace("@@TF_VGGISH@@", _common.TF_VGGISH), str(ckpt), str(path))

    defaults = (module.CONV_CHUNK, module.WINOGRAD_MIN_CHANNELS)
    variants = list(itertools.product([int(c) for c in args.chunks.split(",")],
                                      [int(w) for w in args.winograd.split(",")]))
    net = module.vggish(fetch=False)
    x = torch.from_numpy(examples)
    best: dict[object, float] = {}
    with torch.inference_mode():
        for _ in range(args.repeat):
            for variant in ["tensorflow", *variants]:
                time.sleep(0.5)  # let the other side's worker threads stop spinning
                if variant == "tensorflow":
                    seconds = peer.time()
                else:
                    module.CONV_CHUNK, module.WINOGRAD_MIN_CHANNELS = variant
                    net(x[:8])
                    t = time.perf_counter()
                    net(x)
                    seconds = time.perf_counter() - t
                best[variant] = min(best.get(variant, float("inf")), seconds)
    peer.close()
    tf_rate = args.batch / best["tensorflow"]
    print(f"VGGish at batch {args.batch}, float32, best of {args.repeat} interleaved runs; "
          f"TensorFlow {tf_rate:.1f} examples/s")
    for chunk, min_channels in variants:
        rate = args.batch / best[(chunk, min_channels)]
        mark = "  (default)" if (chunk, min_channels) == defaults else ""
        winograd = f">= {min_channels} channels" if min_channels < 100000 else "none"
        print(f"  CONV_CHUNK {chunk:3d}, Winograd {winograd:16s} {rate:6.1f} examples/s = "
              f"{rate / tf_rate:.2f}x TensorFlow{mark}")


if __name__ == "__main__":
    main()

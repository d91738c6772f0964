"""ImageNet-style training input pipeline alone: images/s and memory, before and after.

Both pipelines read the same in-memory synthetic JPEGs (ImageNet-like sizes
and file sizes: ``--width`` x ``--height`` with smooth content and noise,
quality 90) and run the library's code (``transfer.data.pipeline``) at the
``nasnet_a_mobile`` preset's preprocessing (Inception crop, flip, colour,
224 px):

* ``before``: the pipeline as it was until issue 11: images decoded in full
  as they are read, the shuffle buffer holding decoded images, the crop taken
  from the decoded image, ``deterministic=True``. Built from the library by
  decoding first and passing uint8 images to ``transfer.data.pipeline``.
* ``after``: encoded bytes shuffled, only the random crop decoded
  (``tf.image.decode_and_crop_jpeg``), ``deterministic=False`` (single host).

Each runs in its own process, so its peak resident memory (``ru_maxrss``) is
its own; the shuffle buffer is filled before timing starts. Reported: images
per second over ``--batches`` batches after ``--warmup`` batches, and peak
memory. The input pipeline is measured alone (no model), as the rate a
training step would have to stay below.

    # the measurement for the README (a quiet machine; about 2 minutes on 2 cores):
    .venv/bin/python benchmarks/input_pipeline.py --shuffle_buffer=2000 --batches=40
    # a quick check that it runs:
    .venv/bin/python benchmarks/input_pipeline.py --num_images=16 --shuffle_buffer=16 \\
        --batch=8 --warmup=1 --batches=2 --image_size=64
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

PIPELINES = ("before", "after")


def synthetic_jpegs(count: int, width: int, height: int, seed: int = 0):
    """``count`` JPEG strings of photo-like statistics (smooth colour fields plus noise)."""
    import numpy as np
    import tensorflow as tf
    rng = np.random.RandomState(seed)
    out = []
    for _ in range(count):
        coarse = rng.uniform(0, 255, (height // 16 + 1, width // 16 + 1, 3)).astype(np.float32)
        smooth = tf.image.resize(coarse[None], (height, width), method="bicubic")[0].numpy()
        noise = rng.normal(0, 12, (height, width, 3))
        image = np.clip(smooth + noise, 0, 255).astype(np.uint8)
        out.append(tf.io.encode_jpeg(image, quality=90).numpy())
    return out


def child(args) -> dict:
    """One pipeline, in this (fresh) process."""
    import tensorflow as tf
    from transfer import config as config_lib
    from transfer import data

    encoded = synthetic_jpegs(args.num_images, args.width, args.height)
    labels = list(range(args.num_images))
    source = tf.data.Dataset.from_tensor_slices((encoded, labels)).repeat()
    data_config = config_lib.preset(
        "nasnet_a_mobile", {"data.shuffle_buffer": args.shuffle_buffer}).data
    deterministic = False
    if args.pipeline == "before":
        source = source.map(lambda image, label: (data.decode_image(image), label),
                            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        deterministic = True
    ds = data.pipeline(source, data_config, training=True, image_size=args.image_size,
                       batch_size=args.batch, num_classes=1000, with_aux=True,
                       deterministic=deterministic)
    it = iter(ds)
    started = time.perf_counter()
    for _ in range(args.warmup):          # fills the shuffle buffer
        next(it)
    warm = time.perf_counter()
    for _ in range(args.batches):
        images, _ = next(it)
    float(images[0, 0, 0, 0])
    seconds = time.perf_counter() - warm
    jpeg_kb = sum(len(e) for e in encoded) / len(encoded) / 1024
    return {"pipeline": args.pipeline, "images_per_s": args.batches * args.batch / seconds,
            "warmup_s": warm - started, "peak_rss_mb": resource.getrusage(
                resource.RUSAGE_SELF).ru_maxrss / 1024, "jpeg_kb": jpeg_kb,
            "cpus": os.cpu_count()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", default=",".join(PIPELINES),
                        help=f"comma-separated, from {PIPELINES}")
    parser.add_argument("--num_images", type=int, default=256, help="distinct JPEGs (repeated)")
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--height", type=int, default=375)
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--shuffle_buffer", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=0,
                        help="untimed batches (default: enough to fill the shuffle buffer)")
    parser.add_argument("--batches", type=int, default=20, help="timed batches")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--pipeline", help=argparse.SUPPRESS)      # child mode
    args = parser.parse_args(argv)
    if not args.warmup:
        args.warmup = -(-args.shuffle_buffer // args.batch) + 2

    if args.pipeline:
        print("RESULT " + json.dumps(child(args)), flush=True)
        return 0

    rows = []
    for name in args.pipelines.split(","):
        if name not in PIPELINES:
            parser.error(f"unknown pipeline {name!r}; known: {PIPELINES}")
        cmd = [sys.executable, os.path.abspath(__file__), f"--pipeline={name}",
               *(f"--{k}={getattr(args, k)}" for k in
                 ("num_images", "width", "height", "image_size", "batch", "shuffle_buffer",
                  "warmup", "batches"))]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode or not lines:
            print(f"{name}: FAILED (exit {proc.returncode})\n{proc.stderr[-3000:]}", flush=True)
            return 1
        rows.append(json.loads(lines[-1][len("RESULT "):]))
        print(f"{name}: {rows[-1]['images_per_s']:.1f} images/s", flush=True)

    print(f"\nInception training preprocessing to {args.image_size} px of {args.width}x"
          f"{args.height} JPEGs ({rows[0]['jpeg_kb']:.0f} kB), batch {args.batch}, shuffle "
          f"buffer {args.shuffle_buffer}, {rows[0]['cpus']} CPUs")
    print("| pipeline | images/s | peak memory (MB) | warm-up incl. buffer fill (s) |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['pipeline']} | {r['images_per_s']:.1f} | {r['peak_rss_mb']:.0f} | "
              f"{r['warmup_s']:.1f} |")
    if len(rows) == 2:
        print(f"\nafter / before: {rows[1]['images_per_s'] / rows[0]['images_per_s']:.2f}x "
              f"images/s, {rows[1]['peak_rss_mb'] / rows[0]['peak_rss_mb']:.2f}x peak memory")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

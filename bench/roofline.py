"""Roofline of scoring on this machine: FLOPs per image, measured convolution throughput,
and the share of it each stage of scoring reaches.

    python bench/roofline.py                     # ~3-5 min on 2 cores
    python bench/roofline.py --blocks 8 --repeats 2 --no-compare

1. **FLOPs per image** of each preset, counted from the built Keras model's layer
   shapes (Conv2D: 2 x out_h x out_w x out_c x k_h x k_w x in_c, Dense: 2 x in x
   out; bias, ReLU, batch norm, pooling and softmax are < 1% and left out),
   checked against ``tf.profiler``'s float_operation count of the frozen graph and
   by hand for the seed's largest convolution. Training costs about 3x inference
   (forward, plus the gradients for activations and for weights).
2. **The roof**: one large batched ``tf.nn.conv2d`` of the seed's dominant shape
   (512 x 26 x 26 x 32 -> 32, 3x3 SAME: 64% of its FLOPs), GFLOP/s on all cores,
   plain, with XLA ``jit_compile`` and in bfloat16, best of ``--repeats``.
3. **Forward pass** per preset on mining's blocks of 512 candidates: Keras
   ``predict_on_batch`` (mining's old path), ``model.infer.predictor`` (the kept
   path: a compiled ``tf.function``) and the same function under XLA; images/s,
   GFLOP/s, share of the roof.
4. **Scoring** (``miner.mining.score_block``: generate + predict + select) with the
   kept path, in candidates/s, with its stages' seconds per candidate and its
   GFLOP/s as a share of the roof.

With ``--compare`` (default) sections 2-3 also run in a child process whose
TensorFlow uses its own kernels (``TF_ENABLE_ONEDNN_OPTS=0``), as every process
did before ``model/__init__`` turned oneDNN on: the ratios printed are from this
one run. Timings are wall clock, best of ``--repeats`` (the machine is shared:
the load average is printed at start and end); "per CPU-s" divides by the
process's CPU time over all threads instead.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import model  # noqa: E402,F401  (first: sets the oneDNN default before TensorFlow loads)

import numpy as np  # noqa: E402

CONV = (512, 26, 26, 32, 32, 3)  # batch, height, width, in channels, out channels, kernel side
FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu() -> tuple[str, list[str]]:
    from model.precision import cpu_flags
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    name = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")), "?")
    flags = cpu_flags()
    return name, [f"{f} {'yes' if f in flags else 'no'}" for f in FLAGS]


def layer_flops(m) -> list[tuple[str, int]]:
    """(layer name, FLOPs per image) of every Conv2D and Dense layer, from their shapes."""
    from keras import layers
    out = []
    for layer in m.layers:
        if isinstance(layer, layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            k_h, k_w, c_in, _ = layer.kernel.shape
            out.append((layer.name, 2 * h * w * c_out * k_h * k_w * c_in))
        elif isinstance(layer, layers.Dense):
            c_in, c_out = layer.kernel.shape
            out.append((layer.name, 2 * c_in * c_out))
    return out


def profiler_flops(m) -> int:
    """tf.profiler's float_operation total for one image through the frozen inference graph."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    forward = tf.function(lambda x: m(x, training=False), autograph=False)
    frozen = convert_variables_to_constants_v2(forward.get_concrete_function(tf.TensorSpec([1, 28, 28, 1])))
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    return int(tf.compat.v1.profiler.profile(frozen.graph, options=opts).total_float_ops)


def best(fn, repeats: int) -> tuple[float, float]:
    """(best wall seconds, CPU seconds of that run) of ``fn()`` after one warm-up call."""
    fn()
    runs = []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        runs.append((time.perf_counter() - t0, time.process_time() - c0))
    return min(runs)


def conv_roof(repeats: int) -> dict[str, tuple[float, float]]:
    """GFLOP/s (wall, per CPU-second) of one large batched conv2d, plain / XLA / bfloat16."""
    import tensorflow as tf
    n, h, w, c_in, c_out, k = CONV
    flops = 2 * n * h * w * c_out * k * k * c_in
    x = tf.random.stateless_normal([n, h, w, c_in], seed=[1, 2])
    f = tf.random.stateless_normal([k, k, c_in, c_out], seed=[3, 4])
    conv = tf.function(lambda a, b: tf.nn.conv2d(a, b, 1, "SAME"))
    xla = tf.function(lambda a, b: tf.nn.conv2d(a, b, 1, "SAME"), jit_compile=True)
    out = {}
    for name, fn, a, b in (("plain", conv, x, f), ("xla", xla, x, f),
                           ("bfloat16", conv, tf.cast(x, tf.bfloat16), tf.cast(f, tf.bfloat16))):
        wall, cpu_s = best(lambda: fn(a, b).numpy(), repeats)
        out[name] = (flops / wall / 1e9, flops / cpu_s / 1e9)
    return out


def forward_rates(presets: list[str], images: np.ndarray, repeats: int) -> dict[str, dict[str, tuple]]:
    """preset -> path -> (images/s wall, per CPU-second) over blocks of 512."""
    import keras
    import tensorflow as tf
    from miner.mining import BLOCK
    from model.cnn import build_model
    from model.evaluate import as_model_input
    from model.infer import predictor
    blocks = [images[i:i + BLOCK] for i in range(0, len(images), BLOCK)]
    out = {}
    for name in presets:
        keras.utils.set_random_seed(0)
        m = build_model(name)  # untrained: the same FLOPs as a trained one
        fast = predictor(m)
        xla = tf.function(lambda x: m(tf.reshape(tf.cast(x, tf.float32), [-1, 28, 28, 1]), training=False),
                          jit_compile=True)
        paths = {"keras predict_on_batch": lambda b: m.predict_on_batch(as_model_input(b)),
                 "model.infer.predictor": fast,
                 "same under XLA": lambda b: xla(b).numpy()}
        out[name] = {}
        for path, fn in paths.items():
            wall, cpu_s = best(lambda: [fn(b) for b in blocks], repeats)
            out[name][path] = (len(images) / wall, len(images) / cpu_s)
    return out


def scoring(preset: str, n_blocks: int, repeats: int) -> dict[str, float]:
    """candidates/s of score_block with the kept path, and its stages' seconds per candidate
    (generate and predict timed inside score_block, by wrapping both)."""
    import keras
    from miner import mining
    from miner.budget import Plan
    from miner.generator import EVAL_JITTERS
    from miner.mining import BLOCK, Job, Selection, score_block
    from model.cnn import build_model
    from model.infer import predictor
    keras.utils.set_random_seed(0)
    fast, draw = predictor(build_model(preset)), mining.generate
    spent = {"predict": 0.0, "generate": 0.0, "predict_cpu": 0.0, "generate_cpu": 0.0, "scored": 0}

    def timed(stage, fn, *a, **kw):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn(*a, **kw)
        spent[stage] += time.perf_counter() - t0
        spent[stage + "_cpu"] += time.process_time() - c0
        return out

    def predict(images):
        spent["scored"] += len(images)
        return timed("predict", fast, images)

    def generate(*a, **kw):
        return timed("generate", draw, *a, **kw)

    job = Job(Plan.uniform(EVAL_JITTERS, 20_000), seed=1, selection=Selection("misclassified", 4000),
              max_candidates=n_blocks * BLOCK)
    mining.generate = generate
    try:
        score_block(job, 0, predict)  # warm-up: numba cache load, tracing
        runs = []
        for _ in range(repeats):
            spent.update(predict=0.0, generate=0.0, predict_cpu=0.0, generate_cpu=0.0, scored=0)
            t0, c0 = time.perf_counter(), time.process_time()
            for b in range(n_blocks):
                score_block(job, b, predict)
            total, cpu_s = time.perf_counter() - t0, time.process_time() - c0
            runs.append((total, spent["predict"], spent["generate"], spent["scored"], cpu_s,
                         spent["predict_cpu"], spent["generate_cpu"]))
    finally:
        mining.generate = draw
    total, pred, gen, scored, cpu_s, pred_cpu, gen_cpu = min(runs)
    n = job.max_candidates
    return {"candidates_per_s": n / total, "per_cpu_s": n / cpu_s, "scored_share": scored / n, "s_total": total / n,
            "s_predict": pred / n, "s_generate": gen / n, "s_rest": (total - pred - gen) / n,
            "cpu_predict": pred_cpu / n, "cpu_generate": gen_cpu / n, "cpu_rest": (cpu_s - pred_cpu - gen_cpu) / n}


def measure(args, presets: list[str], images: np.ndarray) -> dict:
    from model.infer import onednn_enabled
    return {"onednn": onednn_enabled(), "conv": conv_roof(args.repeats),
            "forward": forward_rates(presets, images, args.repeats)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--blocks", type=int, default=16, help="blocks of 512 candidates per timed pass")
    p.add_argument("--repeats", type=int, default=3, help="timed passes per measurement; the best counts")
    p.add_argument("--no-compare", dest="compare", action="store_false",
                   help="skip the child process with TensorFlow's own kernels (oneDNN off)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # the comparison run: JSON out
    args = p.parse_args(argv)

    import keras  # noqa: F401
    import tensorflow as tf
    from miner.generator import generate
    from model.cnn import PRESETS, build_model
    from model.infer import onednn_enabled

    presets = list(PRESETS)
    images, _ = generate(np.arange(args.blocks * 512) % 10, 2.0, seed=5)
    if args.child:
        print(json.dumps(measure(args, presets, images)))
        return

    load0 = os.getloadavg()
    name, flags = cpu()
    print(f"machine: {name}, {os.cpu_count()} cores; {', '.join(flags)}")
    print(f"TensorFlow {tf.__version__}, oneDNN {'on' if onednn_enabled() else 'off'}, "
          f"intra-op threads {tf.config.threading.get_intra_op_parallelism_threads() or 'default'}; "
          f"load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")

    print("\n1. FLOPs per image (conv + dense, from the layer shapes)")
    flops = {}
    for key in presets:
        m = build_model(key)
        per_layer = layer_flops(m)
        flops[key] = sum(f for _, f in per_layer)
        prof = profiler_flops(m)
        print(f"  {key:7s} inference {flops[key] / 1e6:7.2f} MFLOP, training ~{3 * flops[key] / 1e6:7.2f} MFLOP "
              f"(3x); tf.profiler {prof / 1e6:7.2f} MFLOP (+ bias, ReLU, BN, pool: "
              f"{100 * (prof - flops[key]) / prof:+.2f}%)")
        print("          " + ", ".join(f"{n} {f / 1e6:.2f}" for n, f in per_layer))
    hand = 2 * 26 * 26 * 32 * 3 * 3 * 32  # the seed's 2nd conv: 26x26x32 out, 3x3x32 in, same padding
    seed_layers = dict(layer_flops(build_model("seed")))
    print(f"  by hand, seed's 2nd conv: 2 x 26 x 26 x 32 x 3 x 3 x 32 = {hand:,}; counted "
          f"{sorted(seed_layers.values())[-1]:,}")

    here = measure(args, presets, images)
    there = None
    if args.compare:
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0"}
        out = subprocess.run([sys.executable, __file__, "--child", "--blocks", str(args.blocks),
                              "--repeats", str(args.repeats)], env=env, capture_output=True, text=True,
                             check=True)
        there = json.loads(out.stdout.strip().splitlines()[-1])
        assert not there["onednn"]

    roof, roof_cpu = here["conv"]["plain"]
    n, h, w, c_in, c_out, k = CONV
    print(f"\n2. The roof: conv2d {n}x{h}x{w}x{c_in} -> {c_out}, {k}x{k} SAME, GFLOP/s wall (per CPU-s)")
    for kind in ("plain", "xla", "bfloat16"):
        (w1, c1), (w0, c0) = here["conv"][kind], (there["conv"][kind] if there else (np.nan, np.nan))
        row = f"  {kind:9s} oneDNN {w1:7.1f} ({c1:6.1f})"
        if there:
            row += f"   TF's own kernels {w0:7.1f} ({c0:6.1f})   ratio {w1 / w0:5.2f} ({c1 / c0:5.2f} per CPU-s)"
        print(row)
    print(f"  roof = oneDNN plain conv: {roof:.1f} GFLOP/s wall ({roof_cpu:.1f} per CPU-s)")

    print("\n3. Forward pass, blocks of 512: images/s wall (per CPU-s), GFLOP/s wall, share of the roof "
          "wall (per CPU-s)")
    for key in presets:
        for path, (rate, per_cpu) in here["forward"][key].items():
            gf, gf_cpu = rate * flops[key] / 1e9, per_cpu * flops[key] / 1e9
            row = (f"  {key:7s} {path:23s} {rate:7.0f} ({per_cpu:6.0f})  {gf:6.1f} GFLOP/s "
                   f"{100 * gf / roof:5.1f}% ({100 * gf_cpu / roof_cpu:5.1f}%)")
            if there:
                r0, p0 = there["forward"][key][path]
                row += f"   TF's own kernels {r0:7.0f} ({p0:6.0f}), ratio {rate / r0:5.2f} ({per_cpu / p0:5.2f})"
            print(row)
        if there:
            old = there["forward"][key]["keras predict_on_batch"]
            new = here["forward"][key]["model.infer.predictor"]
            print(f"  {key:7s} kept path vs the old one (predict_on_batch, TF's own kernels): {new[0] / old[0]:.2f}x "
                  f"wall, {new[1] / old[1]:.2f}x per CPU-s")

    print(f"\n4. Scoring (generate + predict + select), {args.blocks} blocks of 512, kept path")
    for key in presets:
        s = scoring(key, args.blocks, args.repeats)
        gf = s["candidates_per_s"] * s["scored_share"] * flops[key] / 1e9
        gf_cpu = s["per_cpu_s"] * s["scored_share"] * flops[key] / 1e9
        print(f"  {key:7s} {s['candidates_per_s']:7.0f} candidates/s wall ({s['per_cpu_s']:.0f} per CPU-s; "
              f"{100 * s['scored_share']:.0f}% valid, so predicted); per candidate: predict "
              f"{1e6 * s['s_predict']:6.1f} us, generate {1e6 * s['s_generate']:5.1f} us, select and rest "
              f"{1e6 * s['s_rest']:5.1f} us (CPU: {1e6 * s['cpu_predict']:.1f}, {1e6 * s['cpu_generate']:.1f}, "
              f"{1e6 * s['cpu_rest']:.1f} us); {gf:5.1f} GFLOP/s = {100 * gf / roof:4.1f}% of the roof wall "
              f"({100 * gf_cpu / roof_cpu:4.1f}% per CPU-s)")
    load1 = os.getloadavg()
    print(f"\nload average at the end {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")


if __name__ == "__main__":
    main()

"""int8 post-training quantisation of the MNIST MLP and LeNet-5: accuracy, size and speed
against float, quantisation-aware fine-tuning of the MLP, and the int8 product's speed
against NumPy's integer matmul (results section of docs/quantization.md).

    python experiments/quantization.py            # trains the two base models first if needed
    python experiments/quantization.py --quick    # a miniature run (what the tests do)

The int8 models come from ``chainrule quantize``; the float ones are ``chainrule train``
runs (the default MLP, and ``--model cnn --epochs 3``).
"""
from __future__ import annotations

import copy
import json
import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

import _common
from _common import chainrule, kib_text

import chainrule as cr
from chainrule import nn, quantization
from chainrule.data import DataLoader, TensorDataset

BASES = {"mlp": (["--epochs", 1, "--hidden", "32"], []),
         "lenet": (["--model", "cnn", "--epochs", 1], ["--model", "cnn", "--epochs", 3])}


def best_time(fn, repeats: int) -> float:
    """The least CPU time of ``repeats`` calls, on one BLAS thread: on a machine shared with
    other work, wall time measures the neighbours as much as the code, CPU time much less."""
    times = []
    with threadpool_limits(1):
        for _ in range(repeats):
            start = time.process_time()
            fn()
            times.append(time.process_time() - start)
    return min(times)


def kernel_speed(rows: int, repeats: int) -> tuple[float, float]:
    """Seconds for (rows x 784) @ (784 x 256) in int8 with int32 accumulation: ours, and
    NumPy's integer matmul on int32 copies (the same exact result)."""
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (rows, 784)).astype(np.int8)
    b = rng.integers(-128, 128, (784, 256)).astype(np.int8)
    ours = best_time(lambda: quantization.int8_matmul(a, b), repeats)
    a32, b32 = a.astype(np.int32), b.astype(np.int32)
    plain = best_time(lambda: a32 @ b32, max(1, repeats // 2))
    assert np.array_equal(quantization.int8_matmul(a, b), a32 @ b32)
    return ours, plain


def fine_tuned(run, data, epochs: int, fake_quantized: bool) -> tuple[float, float]:
    """Fine-tune a copy of the float model (through fake quantisation, or plainly as the
    control: the extra epoch alone); (float accuracy, int8 accuracy) afterwards. The int8
    model is ``convert``'s after QAT and post-training quantisation's for the control."""
    float_model = copy.deepcopy(run.model)
    model = quantization.prepare_qat(float_model, inplace=True) if fake_quantized else float_model
    cr.manual_seed(0)
    loader = DataLoader(TensorDataset(data.X_train, data.y_train), batch_size=128, shuffle=True)
    cr.train.fit(model, nn.CrossEntropyLoss(), cr.optim.Adam(model.parameters(), lr=1e-4),
                 loader, epochs, verbose=0)
    model.eval()
    qmodel = (quantization.convert(model) if fake_quantized else
              quantization.quantize(model, cr.train.predict, (data.X_train[:512],)))

    def acc(m):
        return float((cr.train.predict(m, data.X_test).argmax(1) == data.y_test).mean())
    return acc(model), acc(qmodel)


def onnx_check(model, X: np.ndarray, y: np.ndarray, path: str) -> dict:
    """Export the int8 model as QDQ ONNX and run it in onnxruntime twice: as written (graph
    optimisations off: the reference semantics of QuantizeLinear/DequantizeLinear) and as
    onnxruntime runs it by default (its QDQ fusions into integer kernels)."""
    import onnx
    import onnx.numpy_helper
    import onnxruntime as ort
    cr.onnx.export(model, cr.tensor(X[:2]), path, dynamic_axes={"input": {0: "batch"}})
    ours = cr.train.predict(model, X)
    out = {"operators": len(onnx.load(path).graph.node)}
    for key, level in (("reference", ort.GraphOptimizationLevel.ORT_DISABLE_ALL),
                       ("default", ort.GraphOptimizationLevel.ORT_ENABLE_ALL)):
        options = ort.SessionOptions()
        options.graph_optimization_level = level
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        theirs = session.run(None, {"input": X})[0]
        out[key] = {"max_difference": float(np.abs(theirs - ours).max()),
                    "agreement": float((theirs.argmax(1) == ours.argmax(1)).mean()),
                    "accuracy": float((theirs.argmax(1) == y).mean())}
    out["largest_logit"] = float(np.abs(ours).max())
    # The same graph with 7-bit weights (codes halved, scales doubled): if onnxruntime's fused
    # kernels then agree with the graph as written, 8-bit saturation is what set them apart.
    proto = onnx.load(path)
    initializers = {i.name: i for i in proto.graph.initializer}
    for name, init in initializers.items():
        if name.endswith(".weight") and init.data_type == onnx.TensorProto.INT8:
            codes = onnx.numpy_helper.to_array(init)
            scales = onnx.numpy_helper.to_array(initializers[name + "_scale"])
            init.CopyFrom(onnx.numpy_helper.from_array(
                np.clip(np.rint(codes / 2), -64, 63).astype(np.int8), name))
            initializers[name + "_scale"].CopyFrom(onnx.numpy_helper.from_array(
                (scales * 2).astype(np.float32), name + "_scale"))
    seven = os.path.splitext(path)[0] + "-7bit.onnx"
    onnx.save(proto, seven)
    runs = []
    for level in (ort.GraphOptimizationLevel.ORT_DISABLE_ALL, ort.GraphOptimizationLevel.ORT_ENABLE_ALL):
        options = ort.SessionOptions()
        options.graph_optimization_level = level
        runs.append(ort.InferenceSession(seven, options, providers=["CPUExecutionProvider"])
                    .run(None, {"input": X})[0])
    out["seven_bit_agreement"] = float((runs[0].argmax(1) == runs[1].argmax(1)).mean())
    out["seven_bit_max_difference"] = float(np.abs(runs[0] - runs[1]).max())
    return out


def main(argv=None) -> dict:
    args = _common.parser(__doc__, "quantization.md").parse_args(argv)
    quick = args.quick
    repeats = 1 if quick else 3
    results = {}
    for name, (quick_args, full_args) in BASES.items():
        base = _common.base_run(args.work, name, quick_args if quick else full_args, quick)
        out = os.path.join(args.work, f"{name}-quantized.ckpt")
        if not os.path.exists(out):
            chainrule("quantize", base, "--out", out, "--quiet")
        with open(os.path.splitext(out)[0] + ".json") as f:
            m = json.load(f)
        float_run, data = _common.loaded(base)
        int8_run = _common.load_run(out)
        X = data.X_test
        m["float_seconds"] = best_time(lambda: cr.train.predict(float_run.model, X, 512), repeats)
        m["int8_seconds"] = best_time(lambda: cr.train.predict(int8_run.model, X, 512), repeats)
        if name == "mlp":
            m["qat"] = fine_tuned(float_run, data, 1, fake_quantized=True)
            m["control"] = fine_tuned(float_run, data, 1, fake_quantized=False)
        if name == "lenet":
            sample = X[:500]
            m["logits"] = (cr.train.predict(float_run.model, sample),
                           cr.train.predict(int8_run.model, sample))
        m["parameters"] = sum(p.numel() for p in float_run.model.parameters())
        m["onnx"] = onnx_check(int8_run.model, X, data.y_test,
                               os.path.join(args.work, f"{name}-int8.onnx"))
        results[name] = m
    rows_k = 64 if quick else 512
    ours, plain = kernel_speed(rows_k, repeats)

    rows = []
    for name, m in results.items():
        n = m["test_samples"]
        rows.append([{"mlp": "MLP 784-256-128-10", "lenet": "LeNet-5"}[name] if not quick else name,
                     f"{m['parameters']:,}", f"{m['float_accuracy']:.2%}",
                     f"{m['int8_accuracy']:.2%}",
                     f"{(m['int8_accuracy'] - m['float_accuracy']) * 100:+.2f}",
                     kib_text(m["float_weights_bytes"]), kib_text(m["int8_weights_bytes"]),
                     f"{m['float_weights_bytes'] / m['int8_weights_bytes']:.2f}x",
                     f"{n / m['float_seconds']:,.0f}", f"{n / m['int8_seconds']:,.0f}"])

    plt = _common.pyplot()
    fl, q = results["lenet"]["logits"]
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.plot(fl.reshape(-1), q.reshape(-1), ".", ms=2, alpha=0.5)
    lo, hi = float(min(fl.min(), q.min())), float(max(fl.max(), q.max()))
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
    ax.set_xlabel("float32 logit")
    ax.set_ylabel("int8 logit")
    ax.set_title(f"LeNet-5, {len(fl)} test digits x 10 logits")
    link = _common.save_figure(fig, args.docs, "quantization-logits.png")

    onnx_rows = []
    for name, m in results.items():
        o = m["onnx"]
        onnx_rows.append([{"mlp": "MLP 784-256-128-10", "lenet": "LeNet-5"}[name] if not quick else name,
                          str(o["operators"]), f"{m['int8_accuracy']:.2%}",
                          f"{o['reference']['accuracy']:.2%} (same prediction on "
                          f"{o['reference']['agreement']:.2%})",
                          f"{o['reference']['max_difference']:.2g} (of {o['largest_logit']:.1f})",
                          f"{o['default']['accuracy']:.2%}",
                          f"{o['default']['agreement']:.2%}",
                          f"{o['seven_bit_agreement']:.2%} (largest difference "
                          f"{o['seven_bit_max_difference']:.2g})"])
    mlp = results["mlp"]
    command = "python experiments/quantization.py" + (" --quick" if quick else "")
    text = "\n\n".join([
        _common.provenance(command),
        "Float models: " + ("miniature runs (1,200 digits, one epoch)" if quick else
                            "`chainrule train` (the default MLP) and `chainrule train --model cnn "
                            "--epochs 3` (LeNet-5)") +
        f"; int8 models: `chainrule quantize RUN` (input ranges calibrated on "
        f"{mlp['calibration_samples']} training digits). Accuracy on the "
        f"{mlp['test_samples']:,} test digits; weights are the model's state saved with "
        f"`cr.save`; speed is test digits per second through `cr.train.predict` in batches of "
        f"512: CPU time on one BLAS thread, the best of {repeats} passes.",
        _common.table(["model", "parameters", "float32 accuracy", "int8 accuracy",
                       "change (points)", "float32 weights", "int8 weights", "smaller by",
                       "float32 digits/s", "int8 digits/s"], rows),
        f"Quantisation-aware fine-tuning of the MLP (`quantization.prepare_qat`, one epoch of "
        f"Adam at lr 1e-4 through fake quantisation, then `convert`): int8 accuracy "
        f"**{mlp['qat'][1]:.2%}** (post-training: {mlp['int8_accuracy']:.2%}). The epoch is "
        f"extra training, so the control is the same epoch without fake quantisation: float "
        f"{mlp['control'][0]:.2%}, int8 after post-training quantisation "
        f"{mlp['control'][1]:.2%}.",
        f"The int8 product with exact int32 accumulation, ({rows_k} x 784) @ (784 x 256): "
        f"**{ours * 1e3:.2f} ms** with `quantization.int8_matmul` (float32 BLAS on blocks where it "
        f"is exact), {plain * 1e3:.1f} ms with NumPy's integer `matmul` on int32 copies, which "
        f"gives the same integers without BLAS ({plain / ours:.0f}x slower).",
        f"The same int8 models exported as ONNX QDQ graphs (`cr.onnx.export`: QuantizeLinear / "
        f"DequantizeLinear around each int8 layer, int8 weight initializers) and run in "
        f"onnxruntime on the {mlp['test_samples']:,} test digits: as written (graph "
        f"optimisations off) and as onnxruntime runs them by default (its QDQ fusions into "
        f"integer kernels). The last column: the same graphs with the weights cut to 7 bits, "
        f"onnxruntime's default against the graph as written.",
        _common.table(["model", "ONNX operators", "chainrule int8 accuracy",
                       "onnxruntime, as written", "largest logit difference",
                       "onnxruntime, default", "same prediction as chainrule",
                       "7-bit weights: default vs as written"], onnx_rows),
        f"![float against int8 logits]({link})",
    ])
    _common.write_results(args.docs, text)
    return {"results": results, "kernel_seconds": (ours, plain)}


if __name__ == "__main__":
    main()

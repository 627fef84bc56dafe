"""chainrule.quantization: int8 codes and observers against PyTorch, the exact int32
accumulation, int8 layers against a float reference on the same grids, the workflows
(post-training and quantisation-aware), and saving a quantised model."""
import doctest
import os

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, quantization as Q
from chainrule.quantization import functional, modules, observers, workflow

from conftest import seed_from_test_name

RNG = np.random.default_rng(3)


@pytest.fixture(autouse=True)
def _seeded(request):
    global RNG
    RNG = seed_from_test_name(request)


def test_doctests_pass():
    for module in (Q, functional, observers, modules, workflow):
        result = doctest.testmod(module, extraglobs={"cr": cr, "np": np},
                                 optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_quantize_per_tensor_and_per_channel_match_torch(torch):
    x = RNG.standard_normal((6, 5)).astype(np.float32) * 3
    ours = Q.quantize_per_tensor(x, 0.5, 3)
    theirs = torch.quantize_per_tensor(torch.tensor(x), 0.5, 3, torch.qint8).int_repr().numpy()
    np.testing.assert_array_equal(ours, theirs)
    scales = RNG.uniform(0.01, 0.1, 6).astype(np.float32)
    zps = RNG.integers(-5, 5, 6)
    ours = Q.quantize_per_channel(x, scales, zps, axis=0)
    theirs = torch.quantize_per_channel(torch.tensor(x), torch.tensor(scales, dtype=torch.float64),
                                        torch.tensor(zps), 0, torch.qint8).int_repr().numpy()
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_allclose(Q.dequantize(ours, scales, zps, axis=0),
                               (ours.astype(np.float32) - zps[:, None]) * scales[:, None])


@pytest.mark.parametrize("qscheme", ["per_tensor_affine", "per_tensor_symmetric"])
def test_per_tensor_observers_match_torch(torch, qscheme):
    tq = pytest.importorskip("torch.ao.quantization")
    batches = [RNG.standard_normal((8, 4)).astype(np.float32) * s + m
               for s, m in ((1.0, 0.5), (2.0, -1.0), (0.5, 3.0))]
    pairs = [(Q.MinMaxObserver(qscheme), tq.MinMaxObserver(dtype=torch.qint8,
                                                          qscheme=getattr(torch, qscheme))),
             (Q.MovingAverageMinMaxObserver(0.1, qscheme),
              tq.MovingAverageMinMaxObserver(averaging_constant=0.1, dtype=torch.qint8,
                                             qscheme=getattr(torch, qscheme)))]
    for ours, theirs in pairs:
        for b in batches:
            ours(cr.tensor(b))
            theirs(torch.tensor(b))
        scale, zp = ours.calculate_qparams()
        t_scale, t_zp = theirs.calculate_qparams()
        np.testing.assert_allclose(scale, t_scale.numpy().reshape(()), rtol=1e-6)
        assert int(zp) == int(t_zp)


@pytest.mark.parametrize("qscheme", ["per_channel_symmetric", "per_channel_affine"])
def test_per_channel_observer_matches_torch(torch, qscheme):
    tq = pytest.importorskip("torch.ao.quantization")
    w = RNG.standard_normal((5, 3, 2, 2)).astype(np.float32)
    w[2] = np.abs(w[2])                         # a channel with no negative values
    ours = Q.PerChannelMinMaxObserver(0, qscheme)
    theirs = tq.PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8,
                                         qscheme=getattr(torch, qscheme))
    ours(cr.tensor(w))
    theirs(torch.tensor(w))
    scale, zp = ours.calculate_qparams()
    t_scale, t_zp = theirs.calculate_qparams()
    np.testing.assert_allclose(scale, t_scale.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(zp, t_zp.numpy())


def test_observers_refuse_bad_settings_and_unseen_ranges():
    with pytest.raises(ValueError, match="qscheme must be one of"):
        Q.MinMaxObserver("per_channel_symmetric")
    with pytest.raises(ValueError, match="no values observed yet"):
        Q.MinMaxObserver().calculate_qparams()
    with pytest.raises(ValueError, match="averaging_constant"):
        Q.MovingAverageMinMaxObserver(0.0)


@pytest.mark.parametrize("shape", [(7, 30, 9), (3, 1024, 2), (4, 3000, 5), (2, 2049, 1)])
def test_int8_matmul_is_the_exact_int32_product(shape):
    m, k, n = shape
    a = RNG.integers(-128, 128, (m, k)).astype(np.int8)
    b = RNG.integers(-128, 128, (k, n)).astype(np.int8)
    a[0], b[:, 0] = -128, -128                  # the largest products, all of one sign
    out = Q.int8_matmul(a, b)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, a.astype(np.int32) @ b.astype(np.int32))
    assert out[0, 0] == k * 128 * 128


def test_int8_matmul_refuses_other_dtypes_and_shapes():
    with pytest.raises(TypeError, match="both operands must be int8"):
        Q.int8_matmul(np.ones((2, 2)), np.ones((2, 2), np.int8))
    with pytest.raises(ValueError, match=r"shapes \(2, 3\) and \(2, 2\) do not chain"):
        Q.int8_matmul(np.ones((2, 3), np.int8), np.ones((2, 2), np.int8))


def test_fake_quantize_matches_torch_values_and_straight_through_gradients(torch):
    x = (RNG.standard_normal((4, 6)) * 4).astype(np.float32)
    ours_x, theirs_x = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours = Q.fake_quantize_per_tensor_affine(ours_x, 0.03, 5, -128, 127)
    theirs = torch.fake_quantize_per_tensor_affine(theirs_x, 0.03, 5, -128, 127)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-6, atol=1e-7)
    g = RNG.standard_normal(x.shape).astype(np.float32)
    ours.backward(cr.tensor(g))
    theirs.backward(torch.tensor(g))
    np.testing.assert_array_equal(ours_x.grad.data, theirs_x.grad.numpy())
    assert 0 < (ours_x.grad.data == 0).sum() < x.size      # some beyond the grid, some inside

    # Exact halves of the grid round half to even before the zero point is added (as
    # PyTorch's fake quantisation; its fbgemm quantize_per_tensor adds first, so only there
    # the two differ).
    ties = np.array([0.25, 0.75, -0.25, -0.75], dtype=np.float32)
    np.testing.assert_array_equal(
        Q.fake_quantize_per_tensor_affine(cr.tensor(ties), 0.5, 3).data,
        torch.fake_quantize_per_tensor_affine(torch.tensor(ties), 0.5, 3, -128, 127).numpy())

    scale = RNG.uniform(0.01, 0.05, 6).astype(np.float32)
    zp = RNG.integers(-3, 3, 6).astype(np.int32)
    ours_x.grad = None
    ours = Q.fake_quantize_per_channel_affine(ours_x, scale, zp, 1, -128, 127)
    theirs_x.grad = None
    theirs = torch.fake_quantize_per_channel_affine(theirs_x, torch.tensor(scale),
                                                    torch.tensor(zp), 1, -128, 127)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-6, atol=1e-7)
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_array_equal(ours_x.grad.data, theirs_x.grad.numpy())


def test_fake_quantize_gradient_is_the_identity_inside_the_grid():
    x = cr.tensor(RNG.uniform(-1, 1, 8), requires_grad=True)       # well inside [-1.28, 1.27]
    assert cr.gradcheck(lambda t: Q.fake_quantize_per_tensor_affine(t, 0.01, 0) * 0
                        + t, x)      # the composed identity part checks the plumbing
    y = Q.fake_quantize_per_tensor_affine(x, 0.01, 0)
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * y.data)


def reference_linear(q: Q.QuantizedLinear, x: np.ndarray) -> np.ndarray:
    """The float64 product of the dequantised input and weight: what the int path must give."""
    xq = Q.quantize_per_tensor(x, float(q.input_scale.data), int(q.input_zero_point.data))
    xd = Q.dequantize(xq, q.input_scale.data, q.input_zero_point.data).astype(np.float64)
    wd = q.weight.data.astype(np.float64) * q.weight_scale.data[:, None].astype(np.float64)
    return xd @ wd.T + q.bias.data


def test_quantized_linear_computes_the_dequantised_product():
    layer = nn.Linear(40, 7)
    x = RNG.standard_normal((9, 40)).astype(np.float32)
    q = Q.QuantizedLinear.from_float(layer, input_scale=0.03, input_zero_point=-11)
    out = q(cr.tensor(x)).data
    assert out.dtype == np.float32 and q.weight.dtype == np.int8
    np.testing.assert_allclose(out, reference_linear(q, x), rtol=1e-5, atol=1e-5)
    # and the grids are fine enough that it is close to the float layer
    np.testing.assert_allclose(out, layer(cr.tensor(x)).data, atol=0.05)
    assert q(cr.tensor(x[None])).shape == (1, 9, 7)       # leading dimensions pass through
    with pytest.raises(ValueError, match="expected inputs with 40 features"):
        q(cr.zeros(2, 41))


@pytest.mark.parametrize("kwargs", [dict(padding=1), dict(stride=2, padding=2),
                                    dict(dilation=2, padding="same"), dict(groups=2),
                                    dict(padding="valid", bias=False), dict(stride=(2, 1))])
def test_quantized_conv2d_computes_the_dequantised_convolution(kwargs):
    conv = nn.Conv2d(4, 6, 3, **kwargs)
    x = RNG.standard_normal((3, 4, 9, 8)).astype(np.float32)
    q = Q.QuantizedConv2d.from_float(conv, input_scale=0.03, input_zero_point=20)
    out = q(cr.tensor(x)).data
    xq = Q.quantize_per_tensor(x, 0.03, 20)
    xd = Q.dequantize(xq, 0.03, 20).astype(np.float64)
    wd = q.weight.data.astype(np.float64) * q.weight_scale.data.reshape(-1, 1, 1, 1)
    bias = None if q.bias is None else cr.tensor(q.bias.data.astype(np.float64))
    ref = cr.nn.functional.conv2d(cr.tensor(xd), cr.tensor(wd), bias, conv.stride, conv.padding,
                                  conv.dilation, conv.groups).data
    assert out.shape == ref.shape == conv(cr.tensor(x)).shape
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(q(cr.tensor(x[0])).data, out[0], rtol=1e-6)   # unbatched


def small_data(n=400):
    X = RNG.standard_normal((n, 1, 8, 8)).astype(np.float32)
    y = (X[:, 0, :4].sum(axis=(1, 2)) > X[:, 0, 4:].sum(axis=(1, 2))).astype(np.int64)
    return X, y


def small_cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 2))


def train_briefly(model, X, y, epochs=3):
    loader = cr.data.DataLoader(cr.data.TensorDataset(X, y), batch_size=32, shuffle=True)
    return cr.train.fit(model, nn.CrossEntropyLoss(), cr.optim.Adam(model.parameters(), lr=0.01),
                        loader, epochs, verbose=0)


def accuracy(model, X, y):
    return float((cr.train.predict(model, X).argmax(axis=1) == y).mean())


def test_post_training_quantization_keeps_accuracy_and_round_trips(tmp_path):
    X, y = small_data()
    model = small_cnn()
    train_briefly(model, X, y)
    qmodel = Q.quantize(model, cr.train.predict, (X[:200],))
    assert Q.quantized_layer_names(qmodel) == ["0", "4", "6"]
    assert isinstance(model[0], nn.Conv2d) and not model[0]._modules     # the original is intact
    float_acc, int8_acc = accuracy(model, X, y), accuracy(qmodel, X, y)
    assert float_acc > 0.85 and abs(float_acc - int8_acc) <= 0.02
    logits, qlogits = cr.train.predict(model, X), cr.train.predict(qmodel, X)
    assert np.abs(logits - qlogits).max() < 0.1 * np.abs(logits).max()
    # save the int8 state and rebuild the model from the float architecture and the names
    cr.save({"model": qmodel.state_dict()}, tmp_path / "q.ckpt")
    cr.save({"model": model.state_dict()}, tmp_path / "f.ckpt")
    rebuilt = Q.quantized_skeleton(small_cnn(), Q.quantized_layer_names(qmodel))
    rebuilt.load_state_dict(cr.load(tmp_path / "q.ckpt")["model"])
    np.testing.assert_array_equal(cr.train.predict(rebuilt, X), qlogits)
    assert rebuilt[4].weight.dtype == np.int8


def test_a_quantized_checkpoint_is_about_four_times_smaller(tmp_path):
    model = nn.Sequential(nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    qmodel = Q.quantize(model, cr.train.predict, (cr.randn(64, 256),))
    cr.save({"model": model.state_dict()}, tmp_path / "f.ckpt")
    cr.save({"model": qmodel.state_dict()}, tmp_path / "q.ckpt")
    # int8 weights; the per-channel scales and float32 biases are the rest
    ratio = os.path.getsize(tmp_path / "f.ckpt") / os.path.getsize(tmp_path / "q.ckpt")
    assert 3.5 < ratio < 4


def test_quantization_aware_training_learns_and_converts_to_the_same_outputs():
    X, y = small_data()
    model = small_cnn()
    train_briefly(model, X, y, epochs=1)
    qat = Q.prepare_qat(model)
    assert type(qat[0]).__name__ == "QATConv2d" and type(qat[4]).__name__ == "QATLinear"
    history = train_briefly(qat, X, y, epochs=3)
    assert history["loss"][-1] < history["loss"][0]
    assert qat[4].weight.grad is not None                  # gradients pass the rounding
    qat.eval()
    qmodel = Q.convert(qat)
    # The QAT forward in eval mode computes on the very grids the int8 model uses.
    np.testing.assert_allclose(cr.train.predict(qmodel, X), cr.train.predict(qat, X),
                               rtol=1e-4, atol=1e-4)


def test_workflow_errors_name_the_problem():
    with pytest.raises(ValueError, match="layer '0' has observed no input"):
        Q.convert(Q.prepare(nn.Sequential(nn.Linear(2, 2))))
    with pytest.raises(ValueError, match="no Linear or Conv2d layer"):
        Q.prepare(nn.Sequential(nn.ReLU()))
    with pytest.raises(ValueError, match="no prepared layer found"):
        Q.convert(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(TypeError, match="not a single Linear"):
        Q.prepare(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="'1' is not a Linear or Conv2d"):
        Q.quantized_skeleton(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), ["1"])


def test_an_int8_model_exports_as_qdq_onnx_that_onnxruntime_reproduces(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    X, y = small_data()
    model = small_cnn()
    train_briefly(model, X, y)
    qmodel = Q.quantize(model, cr.train.predict, (X[:200],))
    path = tmp_path / "int8.onnx"
    cr.onnx.export(qmodel, cr.tensor(X[:2]), path, dynamic_axes={"input": {0: "batch"}})
    proto = onnx.load(path)
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("QuantizeLinear") == 3 and ops.count("DequantizeLinear") == 6
    weights = {i.name: i.data_type for i in proto.graph.initializer if i.name.endswith(".weight")}
    assert weights == {"0.weight": onnx.TensorProto.INT8, "4.weight": onnx.TensorProto.INT8,
                       "6.weight": onnx.TensorProto.INT8}
    # The QDQ graph as written (no runtime fusions) computes what chainrule's int8 model does.
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    theirs = session.run(None, {"input": X})[0]
    ours = cr.train.predict(qmodel, X)
    np.testing.assert_allclose(theirs, ours, atol=1e-3 * np.abs(ours).max())
    assert np.array_equal(theirs.argmax(1), ours.argmax(1))
    with pytest.raises(RuntimeError, match="int8 layers are for inference"):
        qmodel(cr.tensor(X[:2], requires_grad=True)).sum().backward()

"""ONNX export (``cr.onnx.export``), checked by ``onnx.checker`` and run by onnxruntime.

Every model is exported with a dynamic batch axis from an example batch of 3, then
onnxruntime (used directly, not through chainrule's wrapper) runs the file on random inputs
of batch sizes 1 and 5; its float32 outputs must equal chainrule's (eval mode) within 1e-5.
"""
import io

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.cli import models
from chainrule.onnx import ExportError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

BATCHES = (1, 5)
ATOL = 1e-5


def floats(*shape):
    return cr.randn(*shape)


def run_onnx(path, *arrays):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, arrays)))


def chainrule_outputs(model, *inputs):
    was_training = model.training
    model.eval()
    with cr.no_grad():
        out = model(*inputs)
    model.train(was_training)
    flat = []

    def walk(o):
        if isinstance(o, cr.Tensor):
            flat.append(o.data)
        else:
            for item in o:
                walk(item)
    walk(out)
    return flat


def check_export(model, make_input, tmp_path, batch_axes=(0,), opset=17, example_batch=3,
                 batches=BATCHES, **kwargs):
    """Export with the batch axes dynamic, check the file, compare outputs per batch size.

    ``make_input(batch)`` returns the input (or a tuple of inputs) for one batch size."""
    example = make_input(example_batch)
    example = example if isinstance(example, tuple) else (example,)
    names = ["input"] if len(example) == 1 else [f"input_{i}" for i in range(len(example))]
    axes = batch_axes if isinstance(batch_axes, (list, tuple)) and len(example) > 1 \
        and isinstance(batch_axes[0], tuple) else [batch_axes] * len(example)
    dynamic = {n: {a: "batch" for a in ax} for n, ax in zip(names, axes)}
    path = tmp_path / "model.onnx"
    proto = cr.onnx.export(model, example, path, dynamic_axes=dynamic, opset_version=opset,
                           **kwargs)
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded, full_check=True)
    assert loaded.opset_import[0].version == opset
    assert loaded.SerializeToString() == proto.SerializeToString()
    for batch in batches:
        inputs = make_input(batch)
        inputs = inputs if isinstance(inputs, tuple) else (inputs,)
        expected = chainrule_outputs(model, *inputs)
        got = run_onnx(path, *[x.data for x in inputs])
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert g.shape == e.shape and g.dtype == e.dtype
            np.testing.assert_allclose(g, e, rtol=0, atol=ATOL)
    return loaded


def op_types(proto) -> set:
    return {n.op_type for n in proto.graph.node}


# --------------------------------------------------------------------- linear / MLP
def randomise_batch_norms(model):
    """Running statistics as after training (the defaults 0 and 1 would hide mistakes)."""
    rng = np.random.default_rng(1)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.data[...] = rng.normal(0, 0.5, m.num_features)
            m.running_var.data[...] = rng.uniform(0.5, 2.0, m.num_features)
            if m.weight is not None:
                m.weight.data[...] = rng.uniform(0.5, 1.5, m.num_features)
                m.bias.data[...] = rng.normal(0, 0.3, m.num_features)
    return model


def test_mlp_with_batch_norm_and_dropout(tmp_path):
    model = randomise_batch_norms(models.mlp(12, 4, hidden=(16, 8), dropout=0.3, batch_norm=True))
    proto = check_export(model, lambda b: floats(b, 12), tmp_path)
    assert {"Gemm", "BatchNormalization", "Relu"} <= op_types(proto)
    assert "Dropout" not in op_types(proto)
    assert model.training                                 # its mode is given back


def test_parameters_are_initializers_named_by_the_state_dict(tmp_path):
    model = models.mlp(6, 3, hidden=(5,), batch_norm=True)
    proto = cr.onnx.export(model, floats(2, 6), tmp_path / "m.onnx")
    names = {t.name for t in proto.graph.initializer}
    assert {"1.weight", "1.bias", "2.weight", "2.bias", "2.running_mean", "2.running_var",
            "4.weight", "4.bias"} <= names
    assert "2.num_batches_tracked" not in names           # not read in eval mode
    weight = next(t for t in proto.graph.initializer if t.name == "1.weight")
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(weight), model[1].weight.data)


def test_a_shared_parameter_is_one_initializer(tmp_path):
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4)
            self.b = nn.Linear(4, 4)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(cr.tanh(self.a(x)))

    proto = check_export(Tied(), lambda b: floats(b, 4), tmp_path)
    assert sorted(t.name for t in proto.graph.initializer) == ["a.bias", "a.weight", "b.bias"]


def test_linear_on_sequences_and_without_bias(tmp_path):
    model = nn.Sequential(nn.Linear(5, 6, bias=False), nn.GELU(), nn.Linear(6, 2))
    proto = check_export(model, lambda b: floats(b, 7, 5), tmp_path)
    assert "MatMul" in op_types(proto)


# ---------------------------------------------------------------------- convolution
def test_lenet_with_batch_norm(tmp_path):
    model = randomise_batch_norms(models.cnn(1, 10, 28, batch_norm=True, dropout=0.2))
    proto = check_export(model, lambda b: floats(b, 1, 28, 28), tmp_path)
    assert {"Conv", "MaxPool", "BatchNormalization", "Gemm"} <= op_types(proto)


@pytest.mark.parametrize("layer, shape", [
    (lambda: nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=1, groups=2), (4, 9, 8)),
    (lambda: nn.Conv2d(3, 4, (3, 2), padding="same", dilation=2, bias=False), (3, 7, 6)),
    (lambda: nn.Conv1d(3, 5, 3, stride=2, padding=1), (3, 11)),
    (lambda: nn.Conv1d(4, 4, 5, padding="same", groups=4), (4, 9)),
    (lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2), (4, 5, 4)),
    (lambda: nn.ConvTranspose2d(3, 2, (2, 3), stride=(1, 2), dilation=2, bias=False), (3, 4, 5)),
    (lambda: nn.ConvTranspose1d(3, 4, 4, stride=3, padding=1, output_padding=2), (3, 6)),
], ids=["conv2d-groups", "conv2d-same", "conv1d", "conv1d-depthwise", "convT2d", "convT2d-dil",
        "convT1d"])
def test_convolutions(layer, shape, tmp_path):
    model = layer()
    proto = check_export(model, lambda b: floats(b, *shape), tmp_path)
    assert op_types(proto) & {"Conv", "ConvTranspose"}


# ------------------------------------------------------------------------- pooling
@pytest.mark.parametrize("layer, shape", [
    (lambda: nn.MaxPool2d(2), (3, 8, 6)),
    (lambda: nn.MaxPool2d(3, stride=2, padding=1, dilation=2, ceil_mode=True), (2, 9, 10)),
    (lambda: nn.MaxPool2d((2, 3), stride=(2, 2), ceil_mode=True), (2, 7, 7)),
    (lambda: nn.MaxPool1d(3, stride=2, padding=1), (3, 10)),
    (lambda: nn.AvgPool2d(2), (3, 8, 6)),
    (lambda: nn.AvgPool2d(3, stride=2, padding=1), (2, 7, 7)),
    (lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), (2, 8, 7)),
    (lambda: nn.AvgPool2d(2, divisor_override=3), (2, 6, 6)),
    (lambda: nn.AvgPool1d(3, stride=2, padding=1), (3, 9)),
    (lambda: nn.AdaptiveAvgPool2d((3, 2)), (2, 9, 6)),
    (lambda: nn.AdaptiveAvgPool2d((4, 3)), (2, 7, 8)),
    (lambda: nn.AdaptiveAvgPool2d(1), (3, 5, 5)),
    (lambda: nn.AdaptiveAvgPool1d(4), (2, 10)),
], ids=["max2", "max-pad-dil-ceil", "max-rect-ceil", "max1d", "avg2", "avg-pad",
        "avg-ceil-nopad", "avg-divisor", "avg1d", "adaptive-divisible", "adaptive-overlap",
        "adaptive-global", "adaptive1d"])
def test_pooling(layer, shape, tmp_path):
    check_export(layer(), lambda b: floats(b, *shape), tmp_path)


# ------------------------------------------------------------------- normalisation
@pytest.mark.parametrize("layer, shape", [
    (lambda: nn.BatchNorm1d(5), (5,)),
    (lambda: nn.BatchNorm1d(4), (4, 6)),
    (lambda: nn.BatchNorm2d(3, affine=False), (3, 4, 5)),
    (lambda: nn.LayerNorm(6), (4, 6)),
    (lambda: nn.LayerNorm((3, 4), bias=False), (2, 3, 4)),
    (lambda: nn.LayerNorm(5, elementwise_affine=False), (5,)),
], ids=["bn1d", "bn1d-seq", "bn2d-no-affine", "ln", "ln-2d-no-bias", "ln-no-affine"])
def test_normalisation(layer, shape, tmp_path):
    model = randomise_batch_norms(layer())
    if isinstance(model, nn.LayerNorm) and model.weight is not None:
        model.weight.data[...] = np.random.default_rng(2).uniform(0.5, 1.5, model.weight.shape)
    proto = check_export(model, lambda b: floats(b, *shape), tmp_path)
    assert op_types(proto) & {"BatchNormalization", "LayerNormalization"}


# ------------------------------------------------------------------------ embedding
def test_embedding_bag_of_words(tmp_path):
    class Bag(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 6, padding_idx=0)
            self.head = nn.Linear(6, 3)

        def forward(self, ids):
            return self.head(self.emb(ids).mean(dim=1))

    ids = lambda b: cr.tensor(np.random.default_rng(b).integers(0, 20, (b, 7)))
    proto = check_export(Bag(), ids, tmp_path)
    assert "Gather" in op_types(proto)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64


# ------------------------------------------------------------------------ recurrent
@pytest.mark.parametrize("kind, kwargs", [
    ("LSTM", {}),
    ("LSTM", dict(num_layers=2, bidirectional=True)),
    ("LSTM", dict(num_layers=2, batch_first=True, bias=False)),
    ("GRU", {}),
    ("GRU", dict(num_layers=2, bidirectional=True, batch_first=True)),
    ("RNN", dict(nonlinearity="relu", num_layers=2)),
    ("RNN", dict(bidirectional=True, bias=False)),
], ids=["lstm", "lstm-2-bi", "lstm-2-bf-nobias", "gru", "gru-2-bi-bf", "rnn-relu-2", "rnn-bi"])
def test_recurrent_layers_return_every_output(kind, kwargs, tmp_path):
    layer = getattr(nn, kind)(4, 5, **kwargs)
    batch_axis = 0 if kwargs.get("batch_first") else 1
    shape = lambda b: (b, 6, 4) if batch_axis == 0 else (6, b, 4)
    proto = check_export(layer, lambda b: floats(*shape(b)), tmp_path, batch_axes=(batch_axis,))
    assert kind in op_types(proto)


def test_lstm_with_initial_states_as_inputs(tmp_path):
    layer = nn.LSTM(3, 4, num_layers=2)
    make = lambda b: (floats(5, b, 3), floats(2, b, 4), floats(2, b, 4))

    class WithState(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = layer

        def forward(self, x, h, c):
            return self.lstm(x, (h, c))

    check_export(WithState(), make, tmp_path, batch_axes=((1,), (1,), (1,)))


def test_char_lstm_with_dynamic_batch_and_sequence_length(tmp_path):
    model = models.lstm(vocab_size=11, embedding_dim=6, hidden_size=8, num_layers=2)
    ids = lambda b, t=7: cr.tensor(np.random.default_rng(b * t).integers(0, 11, (b, t)))
    path = tmp_path / "char.onnx"
    cr.onnx.export(model, ids(3), path, dynamic_axes={"input": {0: "batch", 1: "time"}})
    for b, t in ((1, 7), (5, 2), (2, 12)):
        x = ids(b, t)
        np.testing.assert_allclose(run_onnx(path, x.data)[0], chainrule_outputs(model, x)[0],
                                   rtol=0, atol=ATOL)


# ---------------------------------------------------------------------- activations
ACTIVATIONS = [nn.ReLU(), nn.LeakyReLU(0.2), nn.ELU(0.7), nn.GELU(), nn.GELU("tanh"), nn.SiLU(),
               nn.Sigmoid(), nn.Tanh(), nn.Softplus(), nn.Softplus(beta=2.0, threshold=1.5),
               nn.Softmax(dim=1), nn.LogSoftmax(dim=-1)]


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=lambda a: repr(a))
def test_every_activation(activation, tmp_path):
    model = nn.Sequential(nn.Linear(4, 6), activation)
    check_export(model, lambda b: floats(b, 4) * 3, tmp_path)


def test_every_activation_layer_is_covered():
    from chainrule.nn import activation as module
    layers = {name for name in dir(module) if isinstance(getattr(module, name), type)
              and issubclass(getattr(module, name), nn.Module) and not name.startswith("_")
              and getattr(module, name) is not nn.Module}
    assert layers == {type(a).__name__ for a in ACTIVATIONS}


# ------------------------------------------------------- shapes as they occur in models
class Shapes(nn.Module):
    """Flatten, view, permute, transpose, flip, cat, stack, split, expand, repeat, pad and
    every kind of indexing, on a conv's feature maps."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.unflatten = nn.Unflatten(1, (3, 20))
        self.head = nn.Linear(121, 4)

    def forward(self, x):                                       # x: (N, 2, 4, 5)
        y = self.conv(x)                                        # (N, 3, 4, 5)
        nhwc = y.permute(0, 2, 3, 1)                            # (N, 4, 5, 3)
        a, b = cr.split(y, [1, 2], dim=1)
        parts = [
            y.view(y.shape[0], -1),                             # 60
            nhwc[:, :, -1].flatten(1),                          # 12
            y[:, 1:, 0, ::2].reshape(len(y), -1),               # 6
            y[:, [0, 2, 2]].sum(dim=(2, 3)),                    # 3
            y[..., 1:3, None, 0].flatten(1),                    # 6
            cr.stack([y[:, 0, 0], y[:, 1, -1]], dim=1).flatten(1),   # 10
            F.pad(y.transpose(1, 3)[:, 0, 0], (1, 2)),          # 6
            self.unflatten(y.flatten(1)).mean(dim=-1),          # 3
            y.flip(3)[:, :, 0, :2].flatten(1),                  # 6
            (a * b[:, 1:]).amax(dim=(2, 3)),                    # 1
            y[:, :1, :1, :1].expand(-1, 2, 1, 1).flatten(1),    # 2
            y[:, :, 2, 3].repeat(1, 2),                         # 6
        ]
        return self.head(cr.cat(parts, dim=1))


def test_flatten_view_permute_cat_index_as_they_occur_in_models(tmp_path):
    check_export(Shapes(), lambda b: floats(b, 2, 4, 5), tmp_path)

"""cr.explain.summary: parameter, multiply-add and memory counts against hand counts."""
from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def test_small_mlp_hand_counts():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    s = cr.explain.summary(model, (4,), batch_size=10)
    rows = [(r.name, r.type, r.output_shape, r.params, r.macs_forward, r.macs_backward,
             r.activation_bytes) for r in s.rows]
    # Linear(4,3): 4*3+3 = 15 params; 10 samples * 3 outputs * 4 inputs = 120 MACs forward;
    # first layer: no dX, only dW = 120. ReLU: 0. Linear(3,2): 8 params, 10*2*3 = 60 forward,
    # dX + dW = 120 backward. Output bytes (float32): 10*3*4, 10*3*4, 10*2*4.
    assert rows == [("0", "Linear", (10, 3), 15, 120, 120, 120),
                    ("1", "ReLU", (10, 3), 0, 0, 0, 120),
                    ("2", "Linear", (10, 2), 8, 60, 120, 80)]
    assert (s.total_params, s.trainable_params, s.param_bytes) == (23, 23, 92)
    assert (s.macs_forward, s.macs_backward, s.macs_per_step) == (180, 240, 420)
    assert s.activation_bytes == 320 and s.complete
    text = str(s)
    assert "0 (Linear)" in text and "Multiply-adds per step: 420 (420)" in text


def test_layer_zoo_counts():
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Dropout(0.5), nn.Linear(8 * 14 * 14, 10),
                          nn.BatchNorm1d(10))
    s = cr.explain.summary(model, (1, 28, 28), batch_size=2)
    by = {r.type: r for r in s.rows}
    conv = by["Conv2d"]
    assert conv.output_shape == (2, 8, 28, 28) and conv.params == 8 * 9 + 8
    assert conv.macs_forward == 2 * 8 * 28 * 28 * 9 and conv.macs_backward == conv.macs_forward
    assert by["MaxPool2d"].output_shape == (2, 8, 14, 14) and by["MaxPool2d"].macs_forward == 0
    assert by["Flatten"].output_shape == (2, 1568) and by["Dropout"].macs_forward == 0
    lin = by["Linear"]
    assert lin.macs_forward == 2 * 10 * 1568 and lin.macs_backward == 2 * lin.macs_forward
    bn = by["BatchNorm1d"]
    assert bn.params == 20 and bn.macs_forward == 2 * 2 * 10 and bn.macs_backward == 80
    assert s.total_params == 80 + 15690 + 20
    assert model.training                                   # restored after the eval pass


def test_recurrent_and_embedding_counts():
    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(100, 16)
            self.lstm = nn.LSTM(16, 32, batch_first=True)
            self.head = nn.Linear(32, 5)

        def forward(self, x):
            out, _ = self.lstm(self.emb(x))
            return self.head(out[:, -1])

    s = cr.explain.summary(Tagger(), (12,), batch_size=4, dtype="int64")
    by = {r.name: r for r in s.rows}
    assert by["emb"].params == 1600 and by["emb"].macs_forward == 0
    # 4 gates * hidden 32 * (input 16 + hidden 32) per step and sample; 12 steps, 4 samples
    assert by["lstm"].macs_forward == 4 * 32 * (16 + 32) * 12 * 4
    assert by["lstm"].output_shape == (4, 12, 32)
    assert by["lstm"].params == 4 * 32 * (16 + 32) + 2 * 4 * 32
    assert by["head"].macs_forward == 4 * 5 * 32


class Scale(nn.Module):
    """A layer of the user's own, which does not say what it costs."""

    def __init__(self):
        super().__init__()
        self.s = nn.Parameter(cr.ones(3))

    def forward(self, x):
        return x * self.s


def test_unknown_layer_gets_question_mark():
    s = cr.explain.summary(nn.Sequential(nn.Linear(2, 3), Scale()), (2,))
    row = s.rows[1]
    assert row.type == "Scale" and row.params == 3 and row.output_shape == (1, 3)
    assert row.macs_forward is None and not s.complete
    text = str(s)
    assert "?" in text and "at least" in text
    assert json.loads(s.to_json())["layers"][1]["macs_forward"] is None


def test_a_layer_of_your_own_can_count_itself():
    class CountedScale(Scale):
        def forward_macs(self, inputs, output):
            return output.numel()           # one product per element

    s = cr.explain.summary(nn.Sequential(nn.Linear(2, 3), CountedScale()), (2,), batch_size=5)
    assert s.rows[1].macs_forward == 15 and s.rows[1].macs_backward == 30 and s.complete


def _exported_layers():
    return [getattr(nn, name) for name in nn.__all__
            if isinstance(getattr(nn, name), type) and issubclass(getattr(nn, name), nn.Module)
            and getattr(nn, name) is not nn.Module]


@pytest.mark.parametrize("layer", _exported_layers(), ids=lambda c: c.__name__)
def test_every_layer_declares_its_forward_cost(layer):
    assert layer.forward_macs is not nn.Module.forward_macs, (
        f"chainrule.nn.{layer.__name__} does not say what it costs: give it "
        f"'def forward_macs(self, inputs, output) -> int' (the multiply-adds of one forward "
        f"call; 0 for elementwise work, copies and lookups; see Module.forward_macs), which "
        f"cr.explain.summary and 'chainrule summary' report")


def _packed():
    from chainrule.nn.utils.rnn import pack_padded_sequence
    return pack_padded_sequence(cr.zeros(6, 3, 5), [6, 4, 2])


# (layer, input shape or input, forward multiply-adds counted by hand)
HAND_COUNTS = [
    # each input element meets out_channels/groups x kernel weights: 2*4*7 inputs x 6 x 3
    (lambda: nn.ConvTranspose1d(4, 6, 3, stride=2), (2, 4, 7), 2 * 4 * 7 * 6 * 3),
    (lambda: nn.ConvTranspose2d(4, 2, 3, groups=2), (2, 4, 5, 5), 2 * 4 * 25 * 1 * 9),
    (lambda: nn.Conv1d(4, 6, 3, groups=2), (2, 4, 10), 2 * 6 * 8 * 2 * 3),
    # bidirectional, 2 layers: layer 2 reads both directions (2 * hidden)
    (lambda: nn.LSTM(5, 7, num_layers=2, bidirectional=True), (6, 3, 5),
     6 * 3 * 2 * 4 * 7 * ((5 + 7) + (14 + 7))),
    (lambda: nn.GRU(5, 7, batch_first=True), (3, 6, 5), 3 * 6 * 3 * 7 * (5 + 7)),
    (lambda: nn.RNN(5, 7), (6, 5), 6 * 7 * (5 + 7)),                         # unbatched
    (lambda: nn.LSTM(5, 7), _packed, (6 + 4 + 2) * 4 * 7 * (5 + 7)),       # real steps only
    (lambda: nn.LSTMCell(5, 7), (3, 5), 3 * 4 * 7 * (5 + 7)),
    (lambda: nn.GRUCell(5, 7), (5,), 3 * 7 * (5 + 7)),
    (lambda: nn.LayerNorm((4, 5)), (3, 4, 5), 2 * 60),
    (lambda: nn.BatchNorm2d(3), (2, 3, 4, 4), 2 * 96),
    (lambda: nn.AvgPool1d(3, stride=2), (2, 3, 11), 2 * 3 * 5 * 3),
    (lambda: nn.AvgPool2d((3, 2), stride=1), (2, 3, 8, 8), 2 * 3 * 6 * 7 * 6),
    (lambda: nn.AdaptiveAvgPool2d(1), (2, 3, 7, 7), 2 * 3 * 49),
    (lambda: nn.AdaptiveAvgPool1d(4), (2, 3, 10), 2 * 3 * 10),
    (lambda: nn.Softmax(dim=1), (3, 4), 0),
    (lambda: nn.Dropout2d(), (2, 3, 4, 4), 0),
]


@pytest.mark.parametrize("make, given, expected", HAND_COUNTS,
                         ids=[f"{i}" for i in range(len(HAND_COUNTS))])
def test_forward_macs_match_hand_counts(make, given, expected):
    layer = make().eval()
    x = given() if callable(given) else cr.zeros(*given)
    with cr.no_grad():
        assert layer.forward_macs((x,), layer(x)) == expected


def test_a_loss_counts_one_per_predicted_element():
    loss = nn.MSELoss()
    x = cr.zeros(4, 3)
    assert loss.forward_macs((x, x), loss(x, x)) == 12


def test_summary_errors():
    model = nn.Sequential(nn.Linear(4, 3))
    with pytest.raises(ValueError, match="forward pass failed"):
        cr.explain.summary(model, (5,))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        cr.explain.summary(model, (4,), batch_size=0)
    with pytest.raises(TypeError, match="expected a Module"):
        cr.explain.summary(np.zeros(3), (4,))

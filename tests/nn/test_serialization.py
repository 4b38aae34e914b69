"""Checkpoints: round trip, backends, atomic writes, clear errors on bad files."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import wavelearn
from wavelearn.nn import FeedForward, Linear, Parameter, serialization
from wavelearn.nn.serialization import load, save
from wavelearn.training.optim import AdamW


def test_round_trip_module_and_metadata(tmp_path) -> None:
    model = FeedForward(4, 8, rng=0)
    path = tmp_path / "ckpt.npz"
    meta = {"step": 12, "config": {"dim": 4, "hidden": 8}, "name": "ff"}
    save(model, path, metadata=meta)
    state, got_meta = load(path)
    assert got_meta == meta
    assert list(state) == [n for n, _ in model.named_parameters()]
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in state.values())
    other = FeedForward(4, 8, rng=1)
    other.load_state_dict(state)
    for a, b in zip(model.parameters(), other.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]  # no temp files left


def test_torch_module_saves_and_loads_across_backends(tmp_path) -> None:
    with wavelearn.use_backend("torch"):
        model = Linear(3, 2, rng=0)
    save(model, tmp_path / "t.npz")
    state, meta = load(tmp_path / "t.npz")
    assert meta == {} and isinstance(state["weight"], np.ndarray)
    ref = Linear(3, 2, dtype=np.float64, rng=5)
    ref.load_state_dict(state)
    assert ref.weight.data.dtype == np.float64
    np.testing.assert_array_equal(ref.weight.data, model.weight.data.numpy())
    with wavelearn.use_backend("torch"):
        back = Linear(3, 2, rng=9)
    back.load_state_dict(state)
    assert torch.equal(back.weight.data, model.weight.data)


def test_optimizer_state_round_trip(tmp_path) -> None:
    params = [Parameter(np.ones((2, 3))), Parameter(np.zeros(3))]
    opt = AdamW(params, lr=0.1)
    for p in params:
        p.grad = np.full(p.shape, 0.5)
    opt.step()
    save(opt.state_dict(), tmp_path / "opt.npz", {"epoch": 1})
    state, meta = load(tmp_path / "opt.npz")
    fresh = AdamW([Parameter(p.data.copy()) for p in params], lr=0.1)
    fresh.load_state_dict(state)
    assert fresh.state[0]["step"] == 1 and meta == {"epoch": 1}
    np.testing.assert_array_equal(fresh.state[1]["exp_avg"], opt.state[1]["exp_avg"])


def test_failed_save_keeps_existing_file(tmp_path, monkeypatch) -> None:
    path = tmp_path / "ckpt.npz"
    save({"w": np.arange(3.0)}, path, {"version": 1})
    original = path.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(serialization.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save({"w": np.zeros(3)}, path, {"version": 2})
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]
    state, meta = load(path)
    assert meta == {"version": 1}
    np.testing.assert_array_equal(state["w"], np.arange(3.0))


def test_failed_replace_keeps_existing_file(tmp_path, monkeypatch) -> None:
    path = tmp_path / "ckpt.npz"
    save({"w": np.arange(3.0)}, path)
    original = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(serialization.os, "replace", broken_replace)
    with pytest.raises(OSError, match="rename failed"):
        save({"w": np.zeros(5)}, path)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]


def test_unserialisable_metadata_and_reserved_keys_touch_nothing(tmp_path) -> None:
    path = tmp_path / "ckpt.npz"
    with pytest.raises(TypeError):
        save({"w": np.zeros(2)}, path, {"bad": object()})
    with pytest.raises(ValueError, match="__metadata__"):
        save({"__metadata__": np.zeros(2)}, path)
    assert list(tmp_path.iterdir()) == []


def test_missing_file(tmp_path) -> None:
    path = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load(path)


@pytest.mark.parametrize("corrupt", ["truncated", "garbage", "empty", "npy", "bad_member"])
def test_corrupt_file_raises_clear_error(tmp_path, corrupt: str) -> None:
    path = tmp_path / "ckpt.npz"
    save(FeedForward(4, 8, rng=0), path, {"a": 1})
    data = path.read_bytes()
    if corrupt == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif corrupt == "garbage":
        path.write_bytes(os.urandom(256))
    elif corrupt == "empty":
        path.write_bytes(b"")
    elif corrupt == "npy":
        with open(path, "wb") as f:
            np.save(f, np.zeros(3))
    else:  # flip bytes inside the first array's data: the zip CRC check fails
        middle = data.index(b"\x93NUMPY") + 200
        path.write_bytes(data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 16])
                         + data[middle + 16:])
    with pytest.raises(ValueError, match="ckpt.npz"):
        load(path)


def test_corrupt_metadata(tmp_path) -> None:
    path = tmp_path / "m.npz"
    np.savez(path, w=np.zeros(2), __metadata__=np.frombuffer(b"{not json", dtype=np.uint8))
    with pytest.raises(ValueError, match="metadata"):
        load(path)

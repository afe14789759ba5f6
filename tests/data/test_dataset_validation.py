"""Data-contract defects (issue 15): bad values and files raise a PyrodynError naming them."""

import zipfile

import numpy as np
import pytest
import torch

from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.exceptions import DataError, PyrodynError, ShapeError


def _x(n=2, t=10, f=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, t, f))


# ---------------------------------------------------------------------------- values
def test_all_nan_modality_is_refused():
    with pytest.raises(DataError, match=r"modality 'b'.*all NaN.*\(2, 10, 1\)"):
        MultimodalDataset({"a": _x(), "b": np.full((2, 10, 1), np.nan)})


def test_never_observed_feature_standardises_to_the_identity():
    x = _x()
    x[..., 1] = np.nan  # feature 1 is never observed; the modality is
    st = MultimodalDataset({"a": x}).standardize()
    flat = x.astype(np.float32).astype(np.float64).reshape(-1, 3)  # the stored values
    keep = [0, 2]
    # reference: numpy's nan-statistics of the observed features, identity for the other
    np.testing.assert_allclose(st.standardizer.mean["a"][keep], np.nanmean(flat[:, keep], 0))
    np.testing.assert_allclose(st.standardizer.std["a"][keep], np.nanstd(flat[:, keep], 0))
    assert st.standardizer.mean["a"][1] == 0.0 and st.standardizer.std["a"][1] == 1.0


@pytest.mark.parametrize("to_tensor", [False, True])
def test_complex_modality_is_refused(to_tensor):
    x = _x() + 1j
    with pytest.raises(DataError, match=r"modality 'a'.*complex") as err:
        MultimodalDataset({"a": torch.from_numpy(x) if to_tensor else x})
    assert isinstance(err.value, TypeError)  # callers catching the old TypeError still do


def test_complex_time_is_refused():
    with pytest.raises(DataError, match=r"'time'.*complex"):
        MultimodalDataset({"a": _x(1)}, time=np.arange(10.0) + 0j)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_time_stamps_are_refused(bad):
    time = np.arange(10.0)
    time[3] = bad
    with pytest.raises(DataError, match=rf"'time'.*{bad}.*index \(3,\)"):
        MultimodalDataset({"a": _x(2)}, time=time)


def test_decreasing_time_names_trial_and_step():
    time = np.tile(np.arange(10.0), (2, 1))
    time[1, 6] = 4.5
    with pytest.raises(
        DataError,
        match=r"strictly increasing.*'time'.*5\.0 \(step 5\) to 4\.5 \(step 6\) in trial 1",
    ):
        MultimodalDataset({"a": _x(2)}, time=time)


@pytest.mark.parametrize("dt", [float("inf"), float("nan"), 0.0, -0.5, "abc"])
def test_bad_dt_is_refused(dt):
    with pytest.raises(DataError, match=rf"dt must be positive and finite, got {dt!r}"):
        MultimodalDataset({"a": _x()}, dt=dt)


@pytest.mark.parametrize(
    ("lengths", "match"),
    [
        (np.array([9.7, 10.0]), r"'lengths'.*integer.*9\.7.*index 0"),
        (np.array([10.0, np.nan]), r"'lengths'.*integer.*nan.*index 1"),
        (np.array([10, 11]), r"lengths must lie in \[1, 10\].*'lengths'.*11 at index 1"),
        (np.array([10, 10, 10]), r"'lengths' must have shape \(2,\), got \(3,\)"),
    ],
)
def test_bad_lengths_are_refused(lengths, match):
    with pytest.raises(PyrodynError, match=match) as err:
        MultimodalDataset({"a": _x()}, lengths=lengths)
    assert isinstance(err.value, ValueError)


def test_integral_float_lengths_are_accepted():
    ds = MultimodalDataset({"a": _x()}, lengths=np.array([7.0, 10.0]))
    assert ds.lengths.tolist() == [7, 10] and ds.lengths.dtype == torch.long


def test_non_finite_inputs_are_refused():
    u = np.zeros((2, 10, 1))
    u[1, 4, 0] = np.nan
    with pytest.raises(DataError, match=r"'inputs'.*nan.*index \(1, 4, 0\)"):
        MultimodalDataset({"a": _x()}, inputs=u)


def test_inputs_of_padding_may_be_nan_and_become_zero():
    x, u = _x(), np.ones((2, 10, 1))
    x[1, 6:] = np.nan  # trial 1 has 6 steps
    u[1, 6:] = np.nan
    ds = MultimodalDataset({"a": x}, inputs=u)
    expected = np.ones((2, 10, 1), dtype=np.float32)
    expected[1, 6:] = 0.0
    np.testing.assert_array_equal(ds.inputs.numpy(), expected)


def test_inputs_must_have_an_input_axis():
    with pytest.raises(ShapeError, match=r"'inputs'.*\(trials, time, input_dim\).*\(2, 10\)"):
        MultimodalDataset({"a": _x()}, inputs=np.zeros((2, 10)))


def test_values_beyond_float32_are_refused():
    x = _x()
    x[0, 2, 1] = 1e300
    with pytest.raises(DataError, match=r"modality 'a'.*1e\+300.*\(0, 2, 1\).*float32"):
        MultimodalDataset({"a": x})


def test_time_is_kept_in_float64():
    time = 1000.0 + 0.05 * np.arange(10)
    ds = MultimodalDataset({"a": _x(1)[0]}, time=time)
    assert ds.time.dtype == torch.float64
    np.testing.assert_array_equal(ds.time[0].numpy(), time)


# ---------------------------------------------------------------------------- files
def _saved(tmp_path, **arrays):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    return path


def _truncated(data):
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "corrupt",
    [_truncated, lambda d: b"", lambda d: b"not an npz archive at all", lambda d: d[:40]],
    ids=["truncated", "empty", "text", "header-only"],
)
def test_unreadable_file_names_the_file(tmp_path, corrupt):
    path = _saved(tmp_path, a=_x())
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(DataError, match=r"d\.npz.*not a readable \.npz archive") as err:
        MultimodalDataset.from_npz(path)
    assert isinstance(err.value, ValueError)


def test_corrupt_member_names_file_and_key(tmp_path):
    path = _saved(tmp_path, a=_x(), b=_x(seed=1))
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("b.npy")
    # flip a byte inside b's data: the archive opens, reading b fails its CRC check
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"d\.npz.*array 'b'"):
        MultimodalDataset.from_npz(path)
    ds = MultimodalDataset.from_npz(path, ["a"])  # a is intact and b never read
    np.testing.assert_array_equal(ds.data["a"].numpy(), _x().astype(np.float32))


def test_npy_file_is_not_an_archive(tmp_path):
    path = tmp_path / "d.npz"
    with open(path, "wb") as fh:
        np.save(fh, _x())
    with pytest.raises(DataError, match=r"d\.npz.*single array"):
        MultimodalDataset.from_npz(path)


def test_directory_is_not_an_archive(tmp_path):
    with pytest.raises(DataError, match=r"not a readable \.npz archive"):
        MultimodalDataset.from_npz(tmp_path)


def test_unused_object_array_is_never_read(tmp_path):
    notes = np.array([{"who": "me"}], dtype=object)
    path = _saved(tmp_path, a=_x(), notes=notes, time=np.arange(10.0))
    ds = MultimodalDataset.from_npz(path, ["a"])
    np.testing.assert_array_equal(ds.data["a"].numpy(), _x().astype(np.float32))
    # taking every key as a modality reads it: refused, naming file and key, never unpickled
    with pytest.raises(DataError, match=r"d\.npz.*array 'notes'.*allow_pickle"):
        MultimodalDataset.from_npz(path)


def test_used_extra_object_array_is_named(tmp_path):
    path = _saved(tmp_path, a=_x(), labels=np.array([None, "x"], dtype=object))
    with pytest.raises(DataError, match=r"d\.npz.*array 'labels'"):
        MultimodalDataset.from_npz(path, ["a"])


def test_constructor_errors_from_a_file_name_the_file(tmp_path):
    path = _saved(tmp_path, a=_x(), b=np.full((2, 10, 1), np.nan))
    with pytest.raises(DataError, match=r"d\.npz.*modality 'b'.*all NaN"):
        MultimodalDataset.from_npz(path)
    path = _saved(tmp_path, a=_x(), time=np.r_[np.arange(9.0), np.nan])
    with pytest.raises(DataError, match=r"d\.npz.*'time'.*nan.*index \(9,\)"):
        MultimodalDataset.from_npz(path)


@pytest.mark.parametrize("single", [False, True])
def test_npz_round_trip_keeps_inputs_and_float64_time(tmp_path, single):
    x, u = _x(), np.random.default_rng(1).normal(size=(2, 10, 1))
    time = 1000.0 + 0.05 * np.arange(10)
    if single:
        x, u = x[0], u[0]
    ds = MultimodalDataset({"a": x}, inputs=u, time=time)
    ds.to_npz(tmp_path / "d.npz")
    back = MultimodalDataset.from_npz(tmp_path / "d.npz")
    np.testing.assert_array_equal(back.inputs.numpy().reshape(u.shape), u.astype(np.float32))
    np.testing.assert_array_equal(back.time[0].numpy(), time)  # exact: float64 throughout
    assert back.single_recording == single

"""Property: `MultimodalDataset` and `from_npz` load or raise a PyrodynError naming the input.

Random arrays (shapes, dtypes including int, bool, complex, object and str, NaN and inf), random
reserved arrays and ``dt``, missing keys, corrupted and random files: never a raw numpy, zipfile
or torch error. Accepted data are checked against the invariants of the data contract.
"""

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.exceptions import DataError, PyrodynError

VALUES = [0.0, 1.0, -2.5, 3.0, 7.0, math.nan, math.inf, -math.inf, 1e300]
DTYPES = ["float64", "float32", "int64", "bool", "complex128", "object", "str"]


@st.composite
def arrays(draw, dims=(0, 4), dtypes=DTYPES):
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=dims[0], max_size=dims[1])))
    size = math.prod(shape)
    values = np.asarray(
        draw(st.lists(st.sampled_from(VALUES), min_size=size, max_size=size)), dtype=np.float64
    ).reshape(shape)
    dtype = draw(st.sampled_from(dtypes))
    with np.errstate(all="ignore"):  # overflow / NaN casts are part of what is tested
        if dtype == "complex128":
            return values + 1j
        if dtype == "object":
            return values.astype(object)
        if dtype == "str":
            return values.astype(str)
        return values.astype(dtype)


@st.composite
def wellformed(draw, shape):
    """An array of the contract's shape: numeric dtype, values with NaN (missing)."""
    size = math.prod(shape)
    vals = draw(st.lists(st.sampled_from(VALUES[:6]), min_size=size, max_size=size))
    dtype = draw(st.sampled_from(["float64", "float32", "int64", "bool"]))
    with np.errstate(all="ignore"):
        return np.asarray(vals).reshape(shape).astype(dtype)


@st.composite
def datasets(draw):
    """Keyword arguments of the constructor; modalities are mostly well formed."""
    n, t = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    static = draw(st.booleans())
    names = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=2, unique=True))
    mods = {}
    for m in names:
        if draw(st.integers(0, 3)) > 0:  # shaped as the contract asks
            mods[m] = draw(wellformed((n, 2) if static else (n, t, 2)))
        else:
            mods[m] = draw(arrays())
        if draw(st.booleans()) and mods[m].dtype.kind in "biuf":
            mods[m] = torch.from_numpy(np.array(mods[m]))
    kwargs = {"static": static}
    for key in ("time", "lengths", "inputs"):
        choice = draw(st.sampled_from(["none", "good", "good", "random"]))
        if choice == "good":
            good = {
                "time": 0.5 * np.arange(t),
                "lengths": np.full(n, t),
                "inputs": np.zeros((n, t, 1)),
            }
            kwargs[key] = good[key]
        elif choice == "random":
            kwargs[key] = draw(arrays(dims=(0, 3)))
    bad_dt = [0.0, -1.0, math.nan, math.inf, "x"]
    good = draw(st.integers(0, 3)) > 0
    kwargs["dt"] = draw(st.sampled_from([1.0, 0.1] if good else bad_dt))
    return mods, kwargs


def _names_input(message: str, mods, kwargs) -> bool:
    names = [repr(m) for m in mods] + ["'time'", "'lengths'", "'inputs'", "dt"]
    return any(name in message for name in names)


def _check_accepted(ds: MultimodalDataset, mods) -> None:
    """Invariants of an accepted dataset, from the raw arrays (not from the library)."""
    for m, a in mods.items():
        raw = np.asarray(a, dtype=np.float64)
        stored = ds.data[m].numpy()
        assert stored.dtype == np.float32
        assert not np.isnan(raw).all()  # an all-NaN modality is never accepted
        assert np.isfinite(raw[~np.isnan(raw)]).all()
        np.testing.assert_array_equal(np.isnan(stored).reshape(raw.shape), np.isnan(raw))
    if ds.static:
        return
    n, t = ds.num_trials, ds.num_steps
    assert ds.time.dtype == torch.float64 and ds.time.shape == (n, t)
    assert bool(torch.isfinite(ds.time).all()) and bool((torch.diff(ds.time, dim=1) > 0).all())
    assert math.isfinite(ds.dt) and ds.dt > 0
    assert bool(((ds.lengths >= 1) & (ds.lengths <= t)).all())
    if ds.inputs is not None:
        assert ds.inputs.shape[:2] == (n, t) and bool(torch.isfinite(ds.inputs).all())
    b = ds.batch(window=t)  # a batch can be cut from whatever was accepted
    assert bool((b.times[:, 0] == 0).all())


def _attempt(call):
    """``(result, None)`` or ``(None, the PyrodynError)``; any other error fails the test."""
    try:
        return call(), None
    except PyrodynError as err:
        return None, err


@settings(max_examples=250)
@given(datasets())
def test_constructor_loads_or_names_the_input(case):
    mods, kwargs = case
    ds, err = _attempt(lambda: MultimodalDataset(mods, **kwargs))
    if err is not None:
        assert _names_input(str(err), mods, kwargs), str(err)
        assert isinstance(err, ValueError)  # `except ValueError` callers still catch it
        return
    assert not any(np.asarray(a).dtype.kind in "cOU" for a in mods.values())
    _check_accepted(ds, mods)


@st.composite
def files(draw):
    """An archive's arrays, the modalities asked for and a corruption of the written bytes."""
    others = st.lists(st.sampled_from(["b", "notes", "time", "labels"]), unique=True)
    keys = ["a", *draw(others)]
    n, t = draw(st.integers(1, 3)), draw(st.integers(2, 5))
    contents = {}
    for k in keys:
        if k == "notes" or draw(st.integers(0, 3)) == 0:  # anything, e.g. an object array
            contents[k] = draw(arrays(dims=(1, 3)))
        elif k == "time":
            contents[k] = 0.1 * np.arange(t)
        else:
            contents[k] = draw(wellformed((n,) if k == "labels" else (n, t, 2)))
    asked = draw(st.none() | st.lists(st.sampled_from(["a", "b", "z"]), min_size=1, unique=True))
    corruption = draw(st.sampled_from(["none", "truncate", "flip", "random"]))
    where = draw(st.floats(0.0, 1.0))
    noise = draw(st.binary(max_size=200))
    static = draw(st.booleans())
    return contents, asked, corruption, where, noise, static


@settings(max_examples=150)
@given(files())
def test_from_npz_loads_or_names_the_file(tmp_path_factory, case):
    contents, asked, corruption, where, noise, static = case
    path = tmp_path_factory.mktemp("npz") / "data.npz"
    np.savez(path, **contents)
    data = path.read_bytes()
    cut = int(where * len(data))
    if corruption == "truncate":
        data = data[:cut]
    elif corruption == "flip":
        data = data[:cut] + bytes([data[cut] ^ 0xFF]) + data[cut + 1 :] if cut < len(data) else data
    elif corruption == "random":
        data = noise
    path.write_bytes(data)
    ds, err = _attempt(lambda: MultimodalDataset.from_npz(path, asked, static=static))
    if err is not None:
        assert re.search(r"data file '.*data\.npz'", str(err)), str(err)
        assert isinstance(err, ValueError)
        return
    assert corruption in ("none", "flip")  # a loadable file was not cut down or replaced
    if corruption == "none":  # a flipped byte may rename a key or change a value unnoticed
        assert ds.modalities == (asked or [k for k in contents if k in ("a", "b", "notes")])
        _check_accepted(ds, {m: contents[m] for m in ds.modalities})


def test_random_bytes_are_a_data_error(tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(bytes(range(256)) * 3)
    with pytest.raises(DataError, match=r"x\.npz.*not a readable \.npz archive"):
        MultimodalDataset.from_npz(path)

import numpy as np
import pytest
import torch

from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.data.standardizer import Standardizer


def _trials(n=6, t=40, seed=0):
    rng = np.random.default_rng(seed)
    return {"a": rng.normal(size=(n, t, 3)), "b": rng.poisson(2.0, size=(n, t, 2)).astype(float)}


def test_single_recording_becomes_one_trial_and_splits_along_time():
    x = np.arange(200.0).reshape(100, 2)
    ds = MultimodalDataset({"a": x}, dt=0.5)
    assert ds.single_recording and ds.num_trials == 1 and ds.num_steps == 100
    train, valid = ds.split(0.2)
    assert train.num_steps == 80 and valid.num_steps == 20
    # the validation part is the tail, time stamps continue
    assert torch.equal(valid.data["a"][0, 0], torch.tensor([160.0, 161.0]))
    assert valid.time[0, 0].item() == pytest.approx(80 * 0.5)


def test_split_by_trial_is_disjoint_and_seeded():
    ds = MultimodalDataset(_trials(n=10))
    tr, va = ds.split(0.3, seed=1)
    assert tr.num_trials == 7 and va.num_trials == 3
    _, va2 = ds.split(0.3, seed=1)
    assert torch.equal(va.data["a"], va2.data["a"])
    rows = {tuple(r.flatten()[:3].tolist()) for r in ds.data["a"]}
    got = {tuple(r.flatten()[:3].tolist()) for r in torch.cat([tr.data["a"], va.data["a"]])}
    assert rows == got


def test_nan_becomes_mask_and_placeholder():
    d = _trials()
    d["a"][0, 3, 1] = np.nan
    d["b"][1] = np.nan  # a whole modality missing in one trial
    ds = MultimodalDataset(d)
    b = ds.batch()
    assert not b.mask["a"][0, 3, 1] and b.mask["a"][0, 3, 0]
    assert b.obs["a"][0, 3, 1] == 0.0
    assert not torch.isnan(b.obs["b"]).any()
    assert b.present("b").tolist() == [True, False, True, True, True, True]


def test_windows_are_contiguous_slices():
    ds = MultimodalDataset(_trials(n=3, t=50))
    b = ds.sample_batch(8, window=10, generator=torch.Generator().manual_seed(0))
    assert b.obs["a"].shape == (8, 10, 3) and b.times.shape == (8, 10)
    for i in range(8):
        # times start at 0 in every window; the absolute start is kept in float64
        trial, start = b.index[i], int(b.time_origin[i])
        assert b.times[i, 0] == 0.0
        assert torch.equal(b.obs["a"][i], ds.data["a"][trial, start : start + 10])
        assert int(b.start[i]) == start  # the window's first step in its trial
    w = ds.windows(10)
    assert w.num_sequences == 3 * 5
    assert w.index.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    assert w.start.tolist() == [0, 10, 20, 30, 40] * 3
    # rows and devices keep the labels; whole trials have no start
    assert w[torch.tensor([6, 0])].start.tolist() == [10, 0]
    assert w.to("cpu").start.tolist() == w.start.tolist()
    assert ds.batch().start is None


def test_lengths_default_to_last_observed_step_and_bound_windows():
    d = _trials(n=2, t=30)
    for v in d.values():
        v[1, 20:] = np.nan
    ds = MultimodalDataset(d)
    assert ds.lengths.tolist() == [30, 20]
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        b = ds.sample_batch(4, window=10, generator=g)
        ends = b.absolute_times()[:, -1]
        assert bool((ends[b.index == 1] < 20).all())


def test_standardize_records_and_inverts():
    ds = MultimodalDataset(_trials())
    st = ds.standardize(["a"])
    flat = st.data["a"].reshape(-1, 3)
    assert torch.allclose(flat.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(flat.std(0, unbiased=False), torch.ones(3), atol=1e-4)
    back = st.standardizer.inverse("a", st.data["a"].numpy())
    np.testing.assert_allclose(back, ds.data["a"].numpy(), atol=1e-4)
    # "b" untouched, round trip through a plain dict
    assert torch.equal(st.data["b"], ds.data["b"])
    again = Standardizer.from_dict(st.standardizer.to_dict())
    np.testing.assert_allclose(again.mean["a"], st.standardizer.mean["a"])


def test_npz_round_trip_and_reserved_keys(tmp_path):
    d = _trials()
    path = tmp_path / "d.npz"
    np.savez(path, **d, true_state=np.zeros((6, 40, 3)), label=np.arange(6), time=np.arange(40.0))
    ds = MultimodalDataset.from_npz(path)
    assert ds.modalities == ["a", "b"]
    assert set(ds.extras) == {"true_state", "label"}
    b = ds.sample_batch(2, window=5)
    assert b.extras["true_state"].shape == (2, 5, 3) and b.extras["label"].shape == (2,)
    out = tmp_path / "o.npz"
    ds.to_npz(out)
    again = MultimodalDataset.from_npz(out)
    assert torch.equal(again.data["a"], ds.data["a"])


def test_static_samples():
    rng = np.random.default_rng(0)
    ds = MultimodalDataset(
        {"img": rng.normal(size=(20, 4, 4)), "v": rng.normal(size=(20, 2))}, static=True
    )
    b = ds.sample_batch(5)
    assert b.static and b.obs["img"].shape == (5, 4, 4) and b.num_steps is None
    tr, va = ds.split(0.25)
    assert (tr.num_trials, va.num_trials) == (15, 5)


@pytest.mark.parametrize(
    ("arrays", "kwargs", "match"),
    [
        ({}, {}, "at least one modality"),
        ({"a": np.zeros((3, 10, 2)), "b": np.zeros((3, 12, 2))}, {}, "different time lengths"),
        ({"a": np.zeros((3, 10, 2)), "b": np.zeros((4, 10, 2))}, {}, "different numbers of trials"),
        ({"a": np.zeros(10)}, {}, "expected"),
        ({"a": np.zeros((0, 3))}, {}, "empty"),
        ({"a": np.array([[1.0, np.inf], [0.0, 1.0]])}, {}, "non-finite value other than NaN"),
        ({"a": np.zeros((10, 2)), "b": np.zeros((2, 10, 2))}, {}, "either every modality"),
        ({"a": np.zeros((10, 2))}, {"dt": 0.0}, "dt must be positive"),
        ({"a": np.zeros((2, 10, 2))}, {"lengths": np.array([0, 10])}, "lengths must lie"),
        ({"a": np.zeros((1, 3, 1))}, {"time": np.array([0.0, 2.0, 1.0])}, "strictly increasing"),
    ],
)
def test_bad_inputs(arrays, kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultimodalDataset(arrays, **kwargs)


def test_missing_modality_in_file_lists_what_is_there(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, gaussian=np.zeros((10, 3)), poisson=np.zeros((10, 2)), time=np.arange(10.0))
    with pytest.raises(
        ValueError, match=r"\['ordinal'\].*holds modalities \['gaussian', 'poisson'\]"
    ):
        MultimodalDataset.from_npz(path, ["gaussian", "ordinal"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        MultimodalDataset.from_npz(tmp_path / "nope.npz")


def test_non_numeric_array_is_a_type_error():
    with pytest.raises(TypeError, match="must be numeric"):
        MultimodalDataset({"a": np.array([["x", "y"]])})


def test_bad_window_and_split():
    ds = MultimodalDataset(_trials(n=2, t=10))
    with pytest.raises(ValueError, match="longer than the trials"):
        ds.sample_batch(2, window=11)
    with pytest.raises(ValueError, match="valid_fraction"):
        ds.split(1.5)
    with pytest.raises(ValueError, match="cannot hold out"):
        ds.split(0.1)

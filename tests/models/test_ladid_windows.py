"""LaDID's multiple-shooting windows and the horizon curriculum that schedules them."""

import pytest
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.infer.schedules import horizon_curriculum
from pyrodyn.models.ladid import shooting_starts
from pyrodyn.models.ladid.windows import cut_windows, draw_crops, draw_frames


def vector_batch(b=3, t=12, n=5, dt=0.1):
    x = torch.randn(b, t, n)
    return MultimodalBatch.from_tensors({"x": x}, times=torch.arange(t) * dt)


def test_shooting_starts_and_errors():
    assert shooting_starts(20, 5, 4, 1).tolist() == [0, 4, 8]
    assert shooting_starts(10, 4, 6).tolist() == [0]
    with pytest.raises(ValueError, match=r"= 11 steps does not fit in trajectories of 10 steps"):
        shooting_starts(10, 4, 6, 1)


def test_curriculum_visits_horizons_in_order_and_ends_long():
    sched = horizon_curriculum(100, (1, 2, 4, 8), final_fraction=0.4)
    values = [sched(s) for s in range(100)]
    assert values[0] == 1 and values[-1] == 8
    assert values == sorted(values)
    assert sum(v == 8 for v in values) == 40
    assert set(values) == {1, 2, 4, 8}
    with pytest.raises(ValueError, match="increasing"):
        horizon_curriculum(10, (4, 2))


def test_cut_windows_are_slices_of_the_trajectories():
    batch = vector_batch(b=2, t=16)
    wb, pairs = cut_windows(batch, 3, 3, overlap=1, windows_per_sequence=2, pair_windows=True)
    assert wb.num_sequences == 4 and wb.num_steps == 3 + 3 + 1
    for r in range(4):
        seq = r // 2
        start = round(float(wb.times[r, 0]) / 0.1)
        torch.testing.assert_close(wb.obs["x"][r], batch.obs["x"][seq, start : start + 7])
    # consecutive windows: the overlap steps of window a are the first query steps of window b
    for a, b in pairs.tolist():
        torch.testing.assert_close(wb.times[a, 6:7], wb.times[b, 3:4])
    # without overlap: k distinct windows per sequence, horizon None -> one full window
    wb2, pairs2 = cut_windows(batch, 3, 2, windows_per_sequence=3)
    assert pairs2 is None and wb2.num_sequences == 6
    starts = (wb2.times[:, 0] / 0.1).round().reshape(2, 3)
    assert all(len(set(r.tolist())) == 3 for r in starts)
    wb3, _ = cut_windows(batch, 3, windows_per_sequence=3)
    assert wb3.num_steps == 16 and wb3.num_sequences == 2


def test_crops_and_frame_subsets_stay_inside_the_windows():
    torch.manual_seed(0)
    wb, _ = cut_windows(vector_batch(b=4, t=16), 3, 5, windows_per_sequence=2)
    start = draw_crops(wb, 3)
    assert start.shape == (8,) and int(start.min()) >= 0 and int(start.max()) <= 8 - 3
    frames = draw_frames(wb, 3)
    assert frames.shape == (8, 3) and bool((frames.diff(dim=1) > 0).all())
    assert draw_frames(wb, 8) is None and draw_frames(wb, None) is None


def test_windows_keep_observed_and_refuse_static_batches():
    batch = vector_batch(t=12).without_observations()
    wb, _ = cut_windows(batch, 3, 4)
    assert wb.observed is False
    static = MultimodalBatch.from_tensors({"x": torch.randn(3, 5)}, static=True)
    with pytest.raises(ValueError, match="LaDID expects sequences"):
        cut_windows(static, 3, 4)

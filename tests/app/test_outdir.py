"""``--out`` never writes into a user's folder; a failed fit leaves no half run behind."""

from __future__ import annotations

import pytest

import pyrodyn
from pyrodyn.app import fitrun
from pyrodyn.app.cli import main
from pyrodyn.app.outdir import FAILED_FILE
from pyrodyn.exceptions import PyrodynWarning


@pytest.fixture
def config(tiny_config):
    return tiny_config(checkpoint_every=2)


def test_a_users_folder_is_refused_untouched(config, tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.yaml").write_text("my notes\n")
    (folder / "history.csv").write_text("a,b\n1,2\n")
    assert main(["fit", str(config), "--out", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "is not empty (config.yaml, history.csv) and holds no pyrodyn run" in err
    assert (folder / "config.yaml").read_text() == "my notes\n"
    assert sorted(p.name for p in folder.iterdir()) == ["config.yaml", "history.csv"]
    (tmp_path / "afile").write_text("x")
    assert main(["fit", str(config), "--out", str(tmp_path / "afile")]) == 1
    assert "is a file, not a directory" in capsys.readouterr().err


@pytest.mark.parametrize("existing", [False, True])
def test_a_fit_failing_before_its_first_checkpoint_removes_what_it_wrote(
    config, tmp_path, capsys, existing
):
    out = tmp_path / "run"
    if existing:
        out.mkdir()  # an empty folder the user made stays, empty
    # fails in fit(), after config.yaml was written and before the first checkpoint
    args = ["fit", str(config), "--out", str(out), "--set", "fit.lr=-1"]
    assert main(args) == 1
    assert "lr" in capsys.readouterr().err
    assert out.exists() == existing
    if existing:
        assert list(out.iterdir()) == []


def test_a_later_failure_keeps_the_run_marked_and_a_resume_clears_the_mark(
    config, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "run"

    def broken(run_dir):
        raise OSError("No space left on device")

    monkeypatch.setattr(fitrun, "_plot_history", broken)  # fails after the checkpoints
    assert main(["fit", str(config), "--out", str(out)]) == 1
    marker = (out / FAILED_FILE).read_text()
    assert "OSError: No space left on device" in marker and "--resume" in marker
    with pytest.warns(PyrodynWarning, match="failed .*OSError: No space left on device"):
        pyrodyn.load_run(out)
    monkeypatch.undo()
    assert main(["fit", str(config), "--out", str(out), "--resume", "--set", "fit.steps=6"]) == 0
    assert not (out / FAILED_FILE).exists()


def test_a_resume_that_fails_before_a_checkpoint_leaves_no_mark(config, tmp_path):
    out = tmp_path / "run"
    assert main(["fit", str(config), "--out", str(out)]) == 0
    (out / "checkpoint.pt").write_bytes(b"not a checkpoint")
    assert main(["fit", str(config), "--out", str(out), "--resume", "--set", "fit.steps=6"]) == 1
    assert not (out / FAILED_FILE).exists()
    assert (out / "checkpoint.pt").read_bytes() == b"not a checkpoint"


def test_orphan_temporary_checkpoints_are_removed_on_the_next_start(config, tmp_path):
    out = tmp_path / "run"
    assert main(["fit", str(config), "--out", str(out)]) == 0
    orphan = out / ".tmp-abc123.pt"
    orphan.write_bytes(b"half a checkpoint")
    keep = out / ".tmp-notes.txt"
    keep.write_text("not ours")
    assert main(["fit", str(config), "--out", str(out), "--resume", "--set", "fit.steps=6"]) == 0
    assert not orphan.exists() and keep.exists()

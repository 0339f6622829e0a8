"""Score colorizations: `python tools/evaluate.py --pred color/ --gt originals/ --json metrics.json`,
or a checkpoint on a data set's val split: `python tools/evaluate.py --checkpoint best.pt --data photos.zip`.
"""
import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python tools/x.py` from a checkout

from gan_colorizer import evaluate, metrics, mood, runtime  # noqa: E402
from gan_colorizer.errors import ColorizerError  # noqa: E402

PathArg = click.Path(path_type=Path)


@click.command()
@click.option("--pred", type=PathArg, help="Folder of predictions (mode 1, with --gt).")
@click.option("--gt", type=PathArg, help="Folder of ground truths; paired with --pred by relative path and name.")
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path),
              help="Generator checkpoint to run (mode 2, with --data).")
@click.option("--data", "data_path", type=PathArg, help="Folder or .zip of colour photos (mode 2).")
@click.option("--split", default="val", show_default=True, type=click.Choice(evaluate.SPLITS),
              help="val: the checkpoint's own validation photos; all: every photo.")
@click.option("--save-pred", type=click.Path(file_okay=False, path_type=Path),
              help="Mode 2: also write the predictions here as PNG.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help='Write {"model": {...}, "gray": {...}} here.')
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Write per-image rows here.")
@click.option("--lpips-net", default="squeeze", show_default=True, type=click.Choice(list(metrics.LPIPS_NETS)))
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--mood", "mood_name", help="Mode 2: also score this colour mood (see colorize --help) against no control.")
@click.option("--color", "target_color", help='Mode 2: also score this target colour, e.g. "#c8a060".')
@click.option("--temperature", type=click.FloatRange(*mood.TEMPERATURE_RANGE), metavar="KELVIN",
              help="Mode 2: also score this light colour temperature (see colorize --help).")
@click.option("--reference", type=click.Path(dir_okay=False, path_type=Path),
              help="Mode 2: also score the colour statistics of this reference image.")
@click.option("--strength", default=1.0, show_default=True, type=click.FloatRange(0.0, 1.0))
def main(pred: Path | None, gt: Path | None, checkpoint: Path | None, data_path: Path | None, split: str,
         save_pred: Path | None, json_path: Path | None, csv_path: Path | None, lpips_net: str, device: str,
         mood_name: str | None, target_color: str | None, temperature: float | None, reference: Path | None,
         strength: float) -> None:
    """Compare colorizations with the truth (PSNR, SSIM, LPIPS, FID-lite, KID, colourfulness) and a gray baseline."""
    is_folders, is_checkpoint = bool(pred or gt), bool(checkpoint or data_path)
    if is_folders == is_checkpoint or (is_folders and not (pred and gt)) or (is_checkpoint and not (checkpoint and data_path)):
        raise click.ClickException("give --pred and --gt (two folders), or --checkpoint and --data")
    requests = {"mood": mood_name, "color": target_color, "temperature": temperature, "reference": reference}
    is_controlled = any(value is not None for value in requests.values())
    if (save_pred or is_controlled) and is_folders:
        raise click.ClickException("--save-pred, --mood, --color, --temperature and --reference need --checkpoint "
                                   "and --data")
    control = {**requests, "strength": strength} if is_controlled else None
    try:
        torch_device = runtime.pick_device(device)
        if is_folders:
            result = evaluate.evaluate_folders(pred, gt, torch_device, lpips_net)
        else:
            result = evaluate.evaluate_checkpoint(checkpoint, data_path, split, torch_device, lpips_net, save_pred,
                                                  control)
        if json_path:
            evaluate.save_json(result.metrics, json_path, result.control)
        if csv_path:
            evaluate.save_csv(result.rows, csv_path)
    except ColorizerError as err:
        raise click.ClickException(str(err)) from None
    click.echo(evaluate.format_table(result.metrics, lpips_net))
    for name, row in result.control.items():
        if name != "requested":
            click.echo(evaluate.format_control(name, result.control["requested"], row))
    if result.skipped:
        raise click.ClickException(f"{len(result.skipped)} pair(s) left out; reasons printed above")


if __name__ == "__main__":
    main()

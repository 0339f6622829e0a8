"""Score colorizations: `gan-colorizer-evaluate --pred color/ --gt originals/ --json metrics.json`,
or a checkpoint on a data set's val split: `gan-colorizer-evaluate --checkpoint best.pt --data photos.zip`
(in a checkout: `python tools/evaluate.py ...`).
"""
from pathlib import Path

import click

from gan_colorizer import cli
from gan_colorizer.errors import ColorizerError
from gan_colorizer.mood_names import TEMPERATURE_RANGE

PathArg = click.Path(path_type=Path)
# Shown by --help, which must not import torch, while evaluate and metrics do.
# tests/test_packaging.py pins each one to its owner's value.
SPLITS = ("val", "all")  # evaluate.SPLITS
LPIPS_NETS = ("squeeze", "alex", "vgg")  # feature_metrics.LPIPS_NETS


@click.command()
@cli.version_option
@click.option("--pred", type=PathArg, help="Folder of predictions (mode 1, with --gt).")
@click.option("--gt", type=PathArg, help="Folder of ground truths; paired with --pred by relative path and name.")
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path),
              help="Generator checkpoint to run (mode 2, with --data).")
@click.option("--data", "data_paths", multiple=True, type=PathArg,
              help="Mode 2: folder, .zip or .tar of colour photos, or a .txt listing them; repeatable. "
                   "[default: the data the checkpoint was trained on]")
@click.option("--split", default="val", show_default=True, type=click.Choice(SPLITS),
              help="val: the checkpoint's own validation photos; all: every photo.")
@click.option("--save-pred", type=click.Path(file_okay=False, path_type=Path),
              help="Mode 2: also write the predictions here as PNG.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help='Write {"model": {...}, "gray": {...}} here.')
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Write per-image rows here.")
@click.option("--lpips-net", default="squeeze", show_default=True, type=click.Choice(LPIPS_NETS))
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--mood", "mood_name", help="Mode 2: also score this colour mood (see colorize --help) against no control.")
@click.option("--color", "target_color", help='Mode 2: also score this target colour, e.g. "#c8a060".')
@click.option("--temperature", type=click.FloatRange(*TEMPERATURE_RANGE), metavar="KELVIN",
              help="Mode 2: also score this light colour temperature (see colorize --help).")
@click.option("--reference", type=click.Path(dir_okay=False, path_type=Path),
              help="Mode 2: also score the colour statistics of this reference image.")
@click.option("--strength", default=1.0, show_default=True, type=click.FloatRange(0.0, 1.0))
@click.option("--degrade", is_flag=True,
              help="Mode 2: age each gray input as an archive scan (seeded fade, grain, blur, scratches, dust, JPEG) "
                   "before colorizing; the truth stays the clean photo.")
@click.option("--points", "point_counts", multiple=True, type=click.IntRange(min=0), metavar="N",
              help="Mode 2: also score a row colorized with N simulated colour points of the truth's colours "
                   "(places seeded per photo), and the share that arrived; repeatable (--points 5 --points 10).")
@click.option("--vividness", "vividness", multiple=True, type=click.FloatRange(0.0, 1.0), metavar="V",
              help="Mode 2: also score a row colorized at vividness V (a model with a colour-distribution head); "
                   "repeatable (--vividness 0 --vividness 1): the calm-to-vivid trade-off.")
@click.option("--video", "videos", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Mode 3: a colour video, made gray and coloured per frame and with stable colour by --checkpoint "
                   "(default: the bundled model): temporal flicker and a*b* RMSE beside the truth's; repeatable.")
@click.option("--network-every", default=2, show_default=True, type=click.IntRange(min=1), metavar="N",
              help="Mode 3: the stable variant runs the network on every N-th frame, as colorize --network-every.")
def main(pred: Path | None, gt: Path | None, checkpoint: Path | None, data_paths: tuple[Path, ...], split: str,
         save_pred: Path | None, json_path: Path | None, csv_path: Path | None, lpips_net: str, device: str,
         mood_name: str | None, target_color: str | None, temperature: float | None, reference: Path | None,
         strength: float, degrade: bool, point_counts: tuple[int, ...], vividness: tuple[float, ...],
         videos: tuple[Path, ...], network_every: int) -> None:
    """Compare colorizations with the truth (PSNR, SSIM, LPIPS, FID-lite, KID, colourfulness) and a gray baseline."""
    if videos:
        evaluate_videos(videos, checkpoint, json_path, network_every)
        return
    is_folders, is_checkpoint = bool(pred or gt), bool(checkpoint or data_paths)
    if is_folders == is_checkpoint or (is_folders and not (pred and gt)) or (is_checkpoint and not checkpoint):
        raise click.ClickException("give --pred and --gt (two folders), or --checkpoint (and --data)")
    requests = {"mood": mood_name, "color": target_color, "temperature": temperature, "reference": reference}
    is_controlled = any(value is not None for value in requests.values())
    if (save_pred or is_controlled or degrade or point_counts or vividness) and is_folders:
        raise click.ClickException("--save-pred, --mood, --color, --temperature, --reference, --degrade, --points "
                                   "and --vividness need --checkpoint")
    control = {**requests, "strength": strength} if is_controlled else None
    cli.require_train_extra("evaluate")
    from gan_colorizer import control_scores, evaluate, runtime  # torch: not needed for --help or a usage error

    try:
        torch_device = runtime.pick_device(device)
        if is_folders:
            result = evaluate.evaluate_folders(pred, gt, torch_device, lpips_net)
        else:
            result = evaluate.evaluate_checkpoint(checkpoint, list(data_paths), split, torch_device, lpips_net, save_pred,
                                                  control, degrade, point_counts, vividness)
        if json_path:
            evaluate.save_json(result.metrics, json_path, result.control, result.arrival)
        if csv_path:
            evaluate.save_csv(result.rows, csv_path)
    except ColorizerError as err:
        raise click.ClickException(str(err)) from None
    click.echo(evaluate.format_table(result.metrics, lpips_net))
    for name, row in result.control.items():
        if name != "requested":
            click.echo(control_scores.format_control(name, result.control["requested"], row))
    for line in evaluate.format_arrival(result.arrival):
        click.echo(line)
    if result.skipped:
        raise click.ClickException(f"{len(result.skipped)} pair(s) left out; reasons printed above")


def evaluate_videos(videos: tuple[Path, ...], checkpoint: Path | None, json_path: Path | None,
                    network_every: int = 2) -> None:
    """Mode 3: the flicker table of each video (docs/metrics.md), optionally as JSON."""
    import json

    from gan_colorizer import inference, video_metrics

    click.echo("| clip | frames | variant | flicker (a*b* / frame) | x per-frame | x truth | a*b* RMSE |\n"
               "|---|---|---|---|---|---|---|")
    table = {}
    try:
        colorizer = inference.Colorizer.from_checkpoint(checkpoint)
        for path in videos:
            scores = video_metrics.score_video(path, colorizer, network_every=network_every)
            rows = {variant: scores.row(variant) for variant in video_metrics.VARIANTS}
            table[scores.clip] = {"frames": scores.frames, "pairs_left_out": scores.pairs_left_out, **rows}
            for variant, row in rows.items():
                click.echo(f"| {scores.clip} | {scores.frames} | {variant} | {row['flicker']:.3f} | "
                           f"{row['flicker'] / rows['per-frame']['flicker']:.2f} | "
                           f"{row['flicker'] / rows['truth']['flicker']:.2f} | {row['ab_rmse']:.2f} |")
    except ColorizerError as err:
        raise click.ClickException(str(err)) from None
    if json_path:
        json_path.write_text(json.dumps(table, indent=2))

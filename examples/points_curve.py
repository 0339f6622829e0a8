"""Plot what colour points buy: `python examples/points_curve.py out.png NAME=metrics.json [NAME=metrics.json ...]`.

Each JSON is `evaluate --checkpoint ... --points 0 --points 1 ... --json metrics.json`; the plot shows
a*b* RMSE and PSNR against the number of points for each, with the gray input's level as a dashed line
(docs/points_curve.png). Needs matplotlib (`pip install matplotlib`), which the package itself does not.
"""
import json
from pathlib import Path

import click


@click.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("runs", nargs=-1, required=True)
def main(out: Path, runs: tuple[str, ...]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ModuleNotFoundError:
        raise click.ClickException("this plot needs matplotlib: pip install matplotlib") from None
    figure, axes = pyplot.subplots(1, 2, figsize=(9, 3.4))
    for spec in runs:
        name, _, path = spec.partition("=")
        table = json.loads(Path(path).read_text())
        counts = sorted(int(key[3:]) for key in table if key.startswith("pts"))
        rows = [table["model"], *(table[f"pts{count}"] for count in counts)]
        for axis, key in zip(axes, ("ab_rmse", "psnr")):
            line, = axis.plot([0, *counts], [row[key] for row in rows], marker="o", label=name)
            axis.axhline(table["gray"][key], color=line.get_color(), linestyle="--", linewidth=0.8)
    for axis, title in zip(axes, ("a*b* RMSE (lower is better; dashed: gray input)", "PSNR, dB (dashed: gray input)")):
        axis.set_xlabel("colour points per photo")
        axis.set_title(title, fontsize=9)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    click.echo(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Screenshot of the web app with colour points placed: `python examples/webapp_screenshot.py photo.jpg out.png`.

Starts the app on a free local port with a checkpoint (default: the bundled model), drives Debian's
chromium through Playwright as a person would (drop the photo, open "Colour points", click each
`--point X,Y,#rrggbb` in the photo's pixels and pick its colour), waits for the updated preview and
saves the page (docs/webapp_points.png). Needs `pip install playwright` and `apt-get install chromium`.
"""
from pathlib import Path

import click

from gan_colorizer.app.server import make_server
from gan_colorizer.app.service import PhotoService
from gan_colorizer.inference import Colorizer

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@click.command()
@click.argument("photo", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--point", "points", multiple=True, required=True, help="X,Y,#rrggbb in the photo's pixels.")
@click.option("--chromium", default="/usr/bin/chromium", show_default=True)
def main(photo: Path, out: Path, checkpoint: Path | None, points: tuple[str, ...], chromium: str) -> None:
    import threading

    from playwright.sync_api import sync_playwright

    server = make_server(PhotoService(Colorizer.from_checkpoint(checkpoint)), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1150})
            page.goto(server.url)
            page.set_input_files("#files", str(photo))
            page.locator(".card[data-state=done]").wait_for(timeout=120_000)
            page.get_by_role("button", name="Colour points").click()
            image = page.locator("#editor-img")
            image.evaluate("img => img.complete || new Promise(done => { img.onload = done; })")
            full_width, _, full_height = page.locator(".card .size").inner_text().split()[:3]  # "W × H pixels"
            for spec in points:
                x, y, colour = spec.split(",")
                box = image.bounding_box()
                page.mouse.click(box["x"] + (float(x) + 0.5) / int(full_width) * box["width"],
                                 box["y"] + (float(y) + 0.5) / int(full_height) * box["height"])
                page.locator("#point-color").fill(colour)
                page.wait_for_function("() => !document.getElementById('editor-status').textContent"
                                       ".startsWith('Colouring')", timeout=120_000)
            page.locator(".swatch").first.wait_for(timeout=60_000)
            page.screenshot(path=str(out), full_page=False)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
        server.service.close()
    click.echo(f"wrote {out}")


if __name__ == "__main__":
    main()

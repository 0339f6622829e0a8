"""The web app in a real headless browser (Debian's chromium driven by Playwright): what a person does.

Upload two photos, see them colorized, download one and the zip; a bad file and a too large one get
a red message while the page keeps working; two browsers at once both get their results. Every
request the page makes is recorded and must go to the app's own 127.0.0.1 address.
Skips with the reason when Playwright or chromium is missing; on CI (CI=true) that is a failure.
"""
import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from skimage import data as skdata

from gan_colorizer import color
from gan_colorizer.app.server import AppServer
from gan_colorizer.app.service import PhotoService
from gan_colorizer.inference import Colorizer
from test_serve import SMALL_LIMIT_MB, gray_photo, running
from tools import colorize

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium as root in a container, and nothing in the background that would reach the internet.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-default-apps"]


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install playwright; it drives Debian's chromium, no browser download)"
    if not Path(CHROMIUM).is_file():
        return f"no chromium at {CHROMIUM} (apt-get install chromium)"
    return None


if _missing():
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run on CI: {_missing()}", pytrace=False)
    pytest.skip(_missing(), allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def app(tiny_checkpoint: Path) -> Iterator[AppServer]:
    with running(PhotoService(Colorizer.from_checkpoint(tiny_checkpoint), max_upload_mb=SMALL_LIMIT_MB)) as server:
        yield server


class Visit:
    """One browser tab on the app, recording every request it makes and every console complaint."""

    def __init__(self, browser: Browser, app: AppServer) -> None:
        self.context = browser.new_context(accept_downloads=True)
        self.page: Page = self.context.new_page()
        self.requests: list[str] = []
        self.console: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("console", lambda message: self.console.append(message.text) if message.type == "error" else None)
        self.page.goto(app.url)
        expect(self.page.locator("#look option[value=warm]")).to_be_attached()

    def drop(self, files: list[Path]) -> None:
        self.page.set_input_files("#files", [str(path) for path in files])

    def cards(self, state: str):
        return self.page.locator(f".card[data-state={state}]")

    def close(self, app: AppServer) -> None:
        outside = [url for url in self.requests if not url.startswith(app.url)]
        assert not outside, f"the page reached outside the app: {outside}"
        # A Content-Security-Policy refusal would mean the page tried to load something from elsewhere.
        assert not [text for text in self.console if "Content Security Policy" in text], self.console
        self.context.close()


@pytest.fixture
def photos(tmp_path: Path) -> list[Path]:
    paths = [tmp_path / "first.png", tmp_path / "second.jpg"]
    paths[0].write_bytes(gray_photo(48, 40))
    paths[1].write_bytes(gray_photo(56, 36, suffix=".jpg"))
    return paths


def test_upload_colorize_and_download_one_and_all(browser, app, photos, tmp_path):
    visit = Visit(browser, app)
    visit.page.select_option("#look", "warm")
    visit.drop(photos)
    expect(visit.cards("done")).to_have_count(2, timeout=30_000)
    expect(visit.page.locator("#status")).to_have_text("2 of 2 colorized")
    for image in visit.page.locator(".card img").all():  # before and after previews really loaded
        # a busy machine may still be fetching a preview: wait for its load or error event first
        image.evaluate("img => img.complete || new Promise(done => { img.onload = img.onerror = done; })")
        assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    assert any("mood=warm" in url for url in visit.requests)

    with visit.page.expect_download() as download_info:
        visit.cards("done").first.get_by_role("link", name="Download").click()
    download = download_info.value
    assert download.suggested_filename == "first_colorized.png"
    saved = tmp_path / "one.png"
    download.save_as(saved)
    assert cv2.imread(str(saved)).shape == (40, 48, 3)

    with visit.page.expect_download() as download_info:
        visit.page.get_by_role("link", name="Download all (.zip)").click()
    download_info.value.save_as(tmp_path / "all.zip")
    with zipfile.ZipFile(tmp_path / "all.zip") as archive:
        assert archive.namelist() == ["first_colorized.png", "second_colorized.png"]
        widths = [cv2.imdecode(np.frombuffer(archive.read(name), np.uint8), cv2.IMREAD_COLOR).shape[1]
                  for name in archive.namelist()]
        assert widths == [48, 56]
    visit.close(app)


def test_bad_and_too_large_files_get_a_red_message_and_the_page_keeps_working(browser, app, photos, tmp_path):
    notes, big = tmp_path / "notes.png", tmp_path / "big.png"
    notes.write_text("this is not an image\n")
    big.write_bytes(gray_photo(400, 300, source=skdata.astronaut))
    visit = Visit(browser, app)
    visit.drop([notes, big])
    expect(visit.cards("error")).to_have_count(2, timeout=30_000)
    messages = visit.cards("error").locator(".message")
    expect(messages.nth(0)).to_have_text("notes.png: not a readable image (corrupt, truncated or unsupported format)")
    expect(messages.nth(1)).to_contain_text(f"big.png is 0.2 MB; this app takes photos up to {SMALL_LIMIT_MB:g} MB")
    assert messages.nth(0).evaluate("node => getComputedStyle(node).color") == "rgb(179, 38, 30)"  # red

    visit.drop(photos[:1])
    expect(visit.cards("done")).to_have_count(1, timeout=30_000)
    expect(visit.page.locator("#status")).to_have_text("1 of 3 colorized · 2 with a problem")
    visit.cards("error").first.get_by_role("button", name="Remove").click()
    expect(visit.cards("error")).to_have_count(1)
    visit.close(app)


def test_two_browsers_at_once_both_get_their_results(browser, app, photos):
    visits = [Visit(browser, app) for _ in range(2)]
    for visit in visits:
        visit.drop(photos)
    for visit in visits:
        expect(visit.cards("done")).to_have_count(2, timeout=60_000)
    ids = [url.split("/")[-2] for visit in visits for url in visit.requests if url.endswith("/after.jpg")]
    assert len(set(ids)) == 4  # each browser got its own two results
    for visit in visits:
        visit.close(app)


def test_a_photo_dropped_on_the_box_is_colorized_in_the_chosen_colour(browser, app):
    visit = Visit(browser, app)
    visit.page.select_option("#look", "#custom")
    expect(visit.page.locator("#color")).to_be_visible()
    visit.page.locator("#color").fill("#c8a060")
    # What the browser hands the page when a file is dragged from the desktop onto the box.
    files = visit.page.evaluate_handle("""bytes => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(bytes)], "dropped.png", {type: "image/png"}));
        return transfer;
    }""", list(gray_photo()))
    visit.page.dispatch_event("#drop", "drop", {"dataTransfer": files})
    expect(visit.cards("done")).to_have_count(1, timeout=30_000)
    expect(visit.cards("done").locator(".name")).to_have_text("dropped.png")
    assert any("color=%23c8a060" in url for url in visit.requests)
    visit.close(app)


def test_a_colour_point_lands_its_colour_and_the_saved_hints_replay_through_the_cli(browser, pointed_checkpoint,
                                                                                    tmp_path):
    photo = tmp_path / "cat.png"
    photo.write_bytes(gray_photo(160, 120, source=skdata.chelsea))
    x, y = flat_midtone(cv2.imread(str(photo), cv2.IMREAD_GRAYSCALE))  # a region that can hold an orange
    with running(PhotoService(Colorizer.from_checkpoint(pointed_checkpoint))) as app:
        visit = Visit(browser, app)
        visit.drop([photo])
        card = visit.cards("done")
        expect(card).to_have_count(1, timeout=30_000)
        plain = download(visit, card.get_by_role("link", name="Download"), tmp_path / "plain.png")

        card.get_by_role("button", name="Colour points").click()
        box = visit.page.locator("#editor-img").bounding_box()
        visit.page.mouse.click(box["x"] + (x + 0.5) / 160 * box["width"], box["y"] + (y + 0.5) / 120 * box["height"])
        expect(visit.page.locator(".marker")).to_have_count(1)
        expect(visit.page.locator(".swatch").first).to_be_visible(timeout=30_000)  # recommended colours came
        visit.page.locator("#point-color").fill("#b06040")
        settled(visit)
        pointed = download(visit, visit.cards("done").get_by_role("link", name="Download"), tmp_path / "pointed.png")
        hints = download(visit, visit.page.locator("#save-hints"), tmp_path / "cat.hints.json")
        visit.close(app)

    asked = color.rgb_to_lab(np.array([[[0xb0, 0x60, 0x40]]], np.float32) / 255.0)[0, 0, 1:]
    lab_plain, lab_pointed = (color.rgb_to_lab(cv2.imread(str(p))[..., ::-1].astype(np.float32) / 255.0)
                              for p in (plain, pointed))
    around = (slice(y - 2, y + 3), slice(x - 2, x + 3))  # the 5 x 5 pixels around the click
    reached = lab_pointed[around][..., 1:].reshape(-1, 2).mean(axis=0)
    assert np.hypot(*(reached - asked)) <= 5.0, (reached, asked)
    moved = np.hypot(*(lab_pointed[..., 1:] - lab_plain[..., 1:]).transpose(2, 0, 1))
    far = moved[:, :x - 40].mean() if x > 80 else moved[:, x + 40:].mean()  # 40 px and more to one side
    assert far < 0.1 * moved[around].mean(), (far, moved[around].mean())  # far away moves little
    result = CliRunner().invoke(colorize.main, ["--in", str(photo), "--out", str(tmp_path / "cli"),
                                                "--checkpoint", str(pointed_checkpoint), "--hints", str(hints)])
    assert result.exit_code == 0, result.output
    assert np.array_equal(cv2.imread(str(tmp_path / "cli" / "cat.png")), cv2.imread(str(pointed)))


def flat_midtone(gray: np.ndarray) -> tuple[int, int]:
    """(x, y) of the 5 x 5 patch, away from the border, of the flattest middle gray (L about 50)."""
    mean = cv2.blur(gray.astype(np.float32), (5, 5))
    spread = cv2.blur(gray.astype(np.float32) ** 2, (5, 5)) - mean ** 2
    cost = spread + 4.0 * np.abs(mean - 120.0)
    cost[:8], cost[-8:], cost[:, :8], cost[:, -8:] = np.inf, np.inf, np.inf, np.inf
    y, x = np.unravel_index(np.argmin(cost), cost.shape)
    return int(x), int(y)


def download(visit: Visit, link, path: Path) -> Path:
    with visit.page.expect_download() as download_info:
        link.click()
    download_info.value.save_as(path)
    return path


def settled(visit: Visit) -> None:
    """Wait until the page has no colouring call running or waiting."""
    visit.page.wait_for_function("() => !document.getElementById('editor-status').textContent.startsWith('Colouring')",
                                 timeout=30_000)

"""The web app over plain HTTP: uploads good, bad and too large, downloads, zips, two clients at once."""
import http.client
import io
import json
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from skimage import data as skdata

from gan_colorizer import color
from gan_colorizer.app.server import AppServer, make_server
from gan_colorizer.app.service import PhotoService
from gan_colorizer.errors import ConfigError
from gan_colorizer.inference import Colorizer
from tools import serve

SMALL_LIMIT_MB = 0.05  # 50 kB: the test photos are a few kB, a 60 kB file is "too large"


def gray_photo(width: int = 48, height: int = 40, suffix: str = ".png", source=skdata.camera) -> bytes:
    """A small real gray photo encoded as a file's bytes."""
    pixels = cv2.resize(source(), (width, height), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(suffix, pixels)
    assert ok
    return encoded.tobytes()


@contextmanager
def running(service: PhotoService) -> Iterator[AppServer]:
    """The app on a free port of 127.0.0.1, serving from a background thread until the block ends."""
    with make_server(service, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server
        finally:
            server.shutdown()
            thread.join()


@pytest.fixture
def app(tiny_checkpoint: Path) -> Iterator[AppServer]:
    with running(PhotoService(Colorizer.from_checkpoint(tiny_checkpoint), max_upload_mb=SMALL_LIMIT_MB)) as server:
        yield server


def get(server: AppServer, path: str) -> tuple[int, dict, bytes]:
    """(status, headers, body) of a GET; error statuses are returned, not raised."""
    try:
        with urllib.request.urlopen(server.url.rstrip("/") + path, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def post(server: AppServer, data: bytes, name: str = "photo.png", **settings) -> tuple[int, dict]:
    """Upload one file as the page does; (status, JSON answer)."""
    query = urlencode({"name": name, **settings})
    request = urllib.request.Request(f"{server.url}api/colorize?{query}", data=data, method="POST",
                                     headers={"Content-Type": "application/octet-stream"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def decode(body: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_UNCHANGED)


def test_page_is_self_contained_and_locked_to_this_server(app):
    status, headers, body = get(app, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"://" not in body  # no absolute URL: every asset is inline, every request goes to this server
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "connect-src 'self'" in headers["Content-Security-Policy"]


def test_info_lists_the_moods_and_the_upload_limit(app):
    status, _, body = get(app, "/api/info")
    info = json.loads(body)
    assert status == 200 and "warm" in info["moods"] and info["max_upload_mb"] == SMALL_LIMIT_MB
    assert info["temperature"]["range"] == [2700, 10000] and info["takes_points"] is False


def test_upload_colorize_and_download_at_full_size(app):
    status, result = post(app, gray_photo(48, 40), name="scans/Grandma 1950.png", mood="warm", strength="0.7")
    assert status == 200 and (result["width"], result["height"]) == (48, 40)
    assert result["download_name"] == "Grandma 1950_colorized.png" and not result["is_colour_input"]

    status, headers, body = get(app, f"/api/results/{result['id']}/file")
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert "attachment" in headers["Content-Disposition"] and "Grandma%201950_colorized.png" in headers["Content-Disposition"]
    assert decode(body).shape == (40, 48, 3)
    for preview in ("before.jpg", "after.jpg"):
        status, headers, body = get(app, f"/api/results/{result['id']}/{preview}")
        assert status == 200 and decode(body).shape == (40, 48, 3)


def test_jpeg_download_and_colour_input_note(app):
    colour = cv2.imencode(".png", cv2.resize(skdata.coffee(), (48, 40)))[1].tobytes()
    status, result = post(app, colour, name="coffee.png", format="jpg")
    assert status == 200 and result["is_colour_input"] and result["download_name"] == "coffee_colorized.jpg"
    status, headers, body = get(app, f"/api/results/{result['id']}/file")
    assert headers["Content-Type"] == "image/jpeg" and body[:2] == b"\xff\xd8"


def test_bad_file_gets_a_one_line_message_and_the_app_keeps_serving(app):
    status, answer = post(app, b"this is not an image\n", name="notes.png")
    assert status == 400
    assert answer["error"].startswith("notes.png: not a readable image") and "\n" not in answer["error"]
    status, answer = post(app, gray_photo()[:200], name="cut.png")
    assert status == 400 and answer["error"].startswith("cut.png:")
    assert post(app, gray_photo())[0] == 200


def test_too_large_upload_is_refused_with_the_limit_and_the_fix(app):
    too_large = gray_photo(400, 300, source=skdata.astronaut)  # ~200 kB of PNG, over the 50 kB limit
    assert len(too_large) > SMALL_LIMIT_MB * 1e6
    status, answer = post(app, too_large, name="big.png")
    assert status == 413
    assert answer["error"].startswith("big.png is 0.") and f"up to {SMALL_LIMIT_MB:g} MB" in answer["error"]
    assert "--max-upload-mb 1" in answer["error"]
    assert post(app, gray_photo())[0] == 200


@pytest.mark.parametrize("settings, message", [
    ({"mood": "stormy"}, "unknown mood 'stormy'"),
    ({"color": "teal"}, "is not a hex colour"),
    ({"strength": "2"}, "strength must be in [0, 1]"),
    ({"strength": "lots"}, "strength 'lots' is not a number"),
    ({"mood": "warm", "color": "#c8a060"}, "choose one of"),
    ({"format": "gif"}, "format 'gif'"),
    ({"temperature": "20000"}, "temperature 20000 K is outside 2700..10000 K"),
])
def test_bad_settings_get_a_message(app, settings, message):
    status, answer = post(app, gray_photo(), **settings)
    assert status == 400 and message in answer["error"]


def test_temperature_is_passed_as_kelvin(app):
    """Tungsten light (3200 K) comes out warmer (higher mean b*) than shade (10000 K); a word is refused."""
    means = []
    for kelvin in ("3200", "10000"):
        status, answer = post(app, gray_photo(), temperature=kelvin)
        assert status == 200
        rgb8 = cv2.cvtColor(cv2.imdecode(np.frombuffer(get(app, f"/api/results/{answer['id']}/file")[2], np.uint8),
                                         cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        means.append(color.rgb_to_lab(rgb8.astype(np.float32) / 255.0)[..., 2].mean())
    assert means[0] > means[1] + 5
    assert post(app, gray_photo(), temperature="warm")[0] == 400


def test_zip_holds_every_result_under_distinct_names(app):
    ids = [post(app, gray_photo(48 + index, 40), name="same.png")[1]["id"] for index in range(2)]
    status, headers, body = get(app, "/api/zip?ids=" + ",".join(ids))
    assert status == 200 and headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.namelist() == ["same_colorized.png", "same_colorized (2).png"]
        assert [decode(archive.read(name)).shape[1] for name in archive.namelist()] == [48, 49]


def test_unknown_results_are_not_found(app):
    assert get(app, "/api/results/nope/file")[0] == 404
    assert get(app, "/api/zip?ids=nope")[0] == 404
    assert get(app, "/api/zip")[0] == 404
    assert get(app, "/etc/passwd")[0] == 404


def test_a_request_addressed_to_a_foreign_host_name_is_refused(app):
    """A rebinding page reaches 127.0.0.1 under its own name; the app must not answer it."""
    port = app.server_address[1]
    for host, expected in ((f"evil.example:{port}", 403), (f"localhost:{port}", 200), (f"127.0.0.1:{port}", 200)):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/api/info", headers={"Host": host})
        response = connection.getresponse()
        assert response.status == expected, host
        if expected == 403:
            assert "answers only on" in json.loads(response.read())["error"]
        connection.close()


def test_two_clients_at_once_both_get_their_own_results(app):
    sizes = {"a": (48, 40), "b": (56, 36)}
    start = threading.Barrier(len(sizes))
    answers: dict[str, list] = {client: [] for client in sizes}

    def client(key: str) -> None:
        start.wait()
        for _ in range(3):
            answers[key].append(post(app, gray_photo(*sizes[key]), name=f"{key}.png"))

    threads = [threading.Thread(target=client, args=(key,)) for key in sizes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for key, (width, height) in sizes.items():
        assert [status for status, _ in answers[key]] == [200] * 3
        for _, result in answers[key]:
            assert result["name"] == f"{key}.png" and decode(get(app, f"/api/results/{result['id']}/file")[2]).shape[:2] == (height, width)
    assert len({result["id"] for replies in answers.values() for _, result in replies}) == 6


def test_a_taken_port_is_a_one_line_error(app):
    with pytest.raises(ConfigError, match="already in use"):
        make_server(app.service, "127.0.0.1", app.server_address[1])


def test_serve_tool_reports_a_bad_checkpoint_in_one_line(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_text("not a checkpoint")
    result = CliRunner().invoke(serve.main, ["--checkpoint", str(bad), "--no-open", "--port", "0"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1


def _memory_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, in MB (Linux /proc)."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith(field + ":"))) / 1024


def _raw_request(port: int, request: bytes) -> bytes:
    """Send raw bytes, as a broken or hostile client would; the status line of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(request)
        return connection.makefile("rb").readline().strip()


LOAD_CLIENTS, LOAD_UPLOADS_EACH = 10, 5
# Peak resident memory the load below may add to this process (the server, its threads and the clients).
# Measured: 36 MB on a 2-core CPU (50 uploads in 17 s there, beside a training run); a server that kept
# every upload's bytes or decoded picture in memory would grow with the load instead.
LOAD_MEMORY_BOUND_MB = 150


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak memory is read from Linux /proc")
def test_under_load_every_upload_gets_its_result_and_a_slow_client_holds_no_one_up(tiny_checkpoint):
    """50 uploads from 10 clients at once while one client trickles its upload, holding its connection
    open until they are all answered; then the slow one is answered too and the app still serves."""
    service = PhotoService(Colorizer.from_checkpoint(tiny_checkpoint))
    with running(service) as server:
        post(server, gray_photo())  # warm-up: the first call builds the network's kernels
        slow_photo = gray_photo(40, 32)
        slow = socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=60)
        slow.sendall(f"POST /api/colorize?name=slow.png HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"Content-Length: {len(slow_photo)}\r\n\r\n".encode())
        for start in range(0, len(slow_photo) // 2, 64):  # half the body, a trickle
            slow.sendall(slow_photo[start:min(start + 64, len(slow_photo) // 2)])
            time.sleep(0.005)

        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM: the peak below is this load's
        before_mb, began = _memory_mb("VmRSS"), time.perf_counter()
        answers: list[tuple[str, tuple[int, dict]]] = []
        start = threading.Barrier(LOAD_CLIENTS)

        def client(number: int) -> None:
            start.wait()
            for upload in range(LOAD_UPLOADS_EACH):
                name = f"c{number}-{upload}.png"
                answers.append((name, post(server, gray_photo(40 + number, 32 + upload), name=name)))

        threads = [threading.Thread(target=client, args=(number,)) for number in range(LOAD_CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        seconds, peak_mb = time.perf_counter() - began, _memory_mb("VmHWM") - before_mb

        assert len(answers) == LOAD_CLIENTS * LOAD_UPLOADS_EACH  # all answered while the slow one still sends
        for name, (status, result) in answers:
            number, upload = map(int, name[1:-4].split("-"))
            assert status == 200 and result["name"] == name
            assert (result["width"], result["height"]) == (40 + number, 32 + upload)
        assert peak_mb < LOAD_MEMORY_BOUND_MB, f"{len(answers)} uploads in {seconds:.1f} s took {peak_mb:.0f} MB"

        slow.sendall(slow_photo[len(slow_photo) // 2:])
        reply = slow.makefile("rb").read()
        slow.close()
        assert reply.startswith(b"HTTP/1.0 200") and b'"name": "slow.png"' in reply
        assert get(server, "/api/info")[0] == 200 and post(server, gray_photo())[0] == 200


def test_hostile_requests_get_4xx_and_nothing_is_written_outside_the_app_folder(tiny_checkpoint, tmp_path,
                                                                                monkeypatch, capfd):
    temp_root = tmp_path / "temp"
    temp_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp_root))  # where the app keeps its results
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    host = b"Host: 127.0.0.1\r\n"
    multipart = (b"--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../escape.png\"\r\n"
                 b"Content-Type: image/png\r\n\r\n\x89PNG broken")
    hostile = {
        "multipart": (b"POST /api/colorize?name=../../escape.png HTTP/1.1\r\n" + host
                      + b"Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: %d\r\n\r\n" % len(multipart)
                      + multipart, b"400"),
        "content-length not a number": (b"POST /api/colorize HTTP/1.1\r\n" + host + b"Content-Length: lots\r\n\r\n",
                                        b"400"),
        "no content-length": (b"POST /api/colorize HTTP/1.1\r\n" + host + b"\r\n", b"411"),
        "too large, body never sent": (b"POST /api/colorize HTTP/1.1\r\n" + host + b"Content-Length: 10000000000\r\n\r\n",
                                       b"413"),
        "huge header": (b"GET /api/info HTTP/1.1\r\n" + host + b"X-Padding: " + b"a" * 70_000 + b"\r\n\r\n", b"431"),
        "many headers": (b"GET /api/info HTTP/1.1\r\n" + host + b"".join(b"X-%d: 1\r\n" % i for i in range(200))
                         + b"\r\n", b"431"),
        "path outside the app": (b"GET /../../etc/passwd HTTP/1.1\r\n" + host + b"\r\n", b"404"),
        "result path outside the app": (b"GET /api/results/../../../etc/passwd/file HTTP/1.1\r\n" + host + b"\r\n",
                                        b"404"),
        "encoded dots": (b"GET /api/results/%2e%2e%2f%2e%2e/file HTTP/1.1\r\n" + host + b"\r\n", b"404"),
        "unknown job id": (b"GET /api/results/no-such-id/after.jpg HTTP/1.1\r\n" + host + b"\r\n", b"404"),
        "unknown ids in a zip": (b"GET /api/zip?ids=no-such-id HTTP/1.1\r\n" + host + b"\r\n", b"404"),
    }
    with running(PhotoService(Colorizer.from_checkpoint(tiny_checkpoint), max_upload_mb=SMALL_LIMIT_MB)) as server:
        port = server.server_address[1]
        for case, (request, status) in hostile.items():
            assert _raw_request(port, request).split(b" ")[1] == status, case
        status, result = post(server, gray_photo(), name="../../escape.png")  # a name with a path keeps its base name
        assert status == 200 and result["download_name"] == "escape_colorized.png"
        assert get(server, "/api/info")[0] == 200
        app_folders = list(temp_root.iterdir())
        assert len(app_folders) == 1 and app_folders[0].name.startswith("gan_colorizer_app_")
        written = sorted(path for path in tmp_path.rglob("*") if path not in before)
        assert written and all(path == app_folders[0] or app_folders[0] in path.parents for path in written)
    assert not any(temp_root.iterdir())  # closing the app deletes its results
    assert "Traceback" not in capfd.readouterr().err


def send(server: AppServer, path: str, body: bytes, **query) -> tuple[int, dict]:
    """POST `body` to `path` (recolor, hints); (status, JSON answer)."""
    request = urllib.request.Request(f"{server.url.rstrip('/')}{path}?{urlencode(query)}", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def pointed_app(pointed_checkpoint: Path) -> Iterator[AppServer]:
    with running(PhotoService(Colorizer.from_checkpoint(pointed_checkpoint))) as server:
        yield server


def test_points_recolour_without_uploading_again_and_the_download_is_the_apis(pointed_app, pointed_checkpoint):
    status, first = post(pointed_app, gray_photo(96, 72), mood="warm", strength="0.5")
    assert status == 200 and first["hints"] == {"gan_colorizer_hints": 1, "points": [],
                                                "look": {"mood": "warm", "strength": 0.5}}
    wanted = [{"x": 30, "y": 20, "color": "#b06040", "radius": 4}, {"x": 70, "y": 50, "color": "#4070a0"}]
    status, again = send(pointed_app, f"/api/results/{first['id']}/recolor", json.dumps({"points": wanted}).encode(),
                         mood="warm", strength="0.5")
    assert status == 200 and again["id"] != first["id"] and again["hints"]["points"] == wanted
    download = decode(get(pointed_app, f"/api/results/{again['id']}/file")[2])[..., ::-1]  # BGR -> RGB
    gray = decode(gray_photo(96, 72))
    expected = Colorizer.from_checkpoint(pointed_checkpoint)(gray, mood="warm", strength=0.5, points=wanted)
    assert np.array_equal(download, expected)
    # the saved hint file brings the same colours back through the hints endpoint
    status, headers, saved = get(pointed_app, f"/api/results/{again['id']}/hints")
    assert status == 200 and 'filename="photo.hints.json"' in headers["Content-Disposition"]
    status, loaded = send(pointed_app, f"/api/results/{first['id']}/hints", saved)
    assert status == 200
    assert np.array_equal(decode(get(pointed_app, f"/api/results/{loaded['id']}/file")[2])[..., ::-1], expected)


def test_recommended_colours_are_distinct_hex_colours_the_first_the_models_own(pointed_app):
    status, first = post(pointed_app, gray_photo(96, 72))
    status, headers, body = get(pointed_app, f"/api/results/{first['id']}/suggest?x=40&y=30")
    colours = json.loads(body)["colours"]
    assert status == 200 and 1 <= len(colours) <= 8 and len(set(colours)) == len(colours)
    assert all(len(c) == 7 and c.startswith("#") for c in colours)
    assert get(pointed_app, f"/api/results/{first['id']}/suggest?x=400&y=30")[0] == 400  # off the photo


@pytest.mark.parametrize(("path", "body", "status", "message"), [
    ("/api/results/nosuch/recolor", b'{"points": []}', 404, "gone"),
    ("/api/results/{id}/recolor", b"[1, 2", 400, "expected a JSON object"),
    ("/api/results/{id}/recolor", b'{"points": [[500, 5, "#ff0000"]]}', 400, "lies outside the 48 x 40 image"),
    ("/api/results/{id}/recolor", b'{"points": [[5, 5, "teal"]]}', 400, "point 1: colour 'teal'"),
    ("/api/results/{id}/hints", b'{"points": []}', 400, "not a gan_colorizer hint file"),
])
def test_bad_points_and_hint_files_get_a_message(pointed_app, path, body, status, message):
    first = post(pointed_app, gray_photo())[1]
    answer = send(pointed_app, path.format(id=first["id"]), body)
    assert answer[0] == status and message in answer[1]["error"]


def test_points_for_a_model_without_them_get_a_message(app):
    first = post(app, gray_photo())[1]
    status, answer = send(app, f"/api/results/{first['id']}/recolor", b'{"points": [[5, 5, "#ff0000"]]}')
    assert status == 400 and "takes no colour points" in answer["error"]


def test_a_long_session_of_clicks_keeps_only_the_newest_colourings_of_a_photo(pointed_app):
    first = post(pointed_app, gray_photo(96, 72))[1]
    ids = [first["id"]]
    for index in range(6):
        ids.append(send(pointed_app, f"/api/results/{ids[-1]}/recolor",
                        json.dumps({"points": [[10 + index, 10, "#b06040"]]}).encode())[1]["id"])
    alive = [get(pointed_app, f"/api/results/{result_id}/after.jpg")[0] for result_id in ids]
    assert alive == [404] * 3 + [200] * 4


def test_vividness_is_a_setting_and_the_uncertainty_map_an_overlay(distribution_checkpoint, app):
    with running(PhotoService(Colorizer.from_checkpoint(distribution_checkpoint))) as server:
        info = json.loads(get(server, "/api/info")[2])
        assert info["vividness"] == 0.5 and info["gives_uncertainty"]
        gray = decode(gray_photo(96, 72))
        status, calm = post(server, gray_photo(96, 72), vividness="0")
        status_vivid, vivid = post(server, gray_photo(96, 72), vividness="1")
        assert status == status_vivid == 200
        calm_file = decode(get(server, f"/api/results/{calm['id']}/file")[2])[..., ::-1]
        vivid_file = decode(get(server, f"/api/results/{vivid['id']}/file")[2])[..., ::-1]
        assert np.array_equal(vivid_file, Colorizer.from_checkpoint(distribution_checkpoint)(gray, vividness=1.0))
        assert np.abs(calm_file.astype(int) - vivid_file).max() > 0
        status, headers, body = get(server, f"/api/results/{calm['id']}/uncertainty.png")
        assert status == 200 and headers["Content-Type"] == "image/png" and decode(body).ndim == 2
        assert post(server, gray_photo(), vividness="3")[0] == 400
    # a model without a distribution head offers neither, and says so in one line when asked
    assert json.loads(get(app, "/api/info")[2])["vividness"] is None
    status, answer = post(app, gray_photo())
    assert status == 200
    status, headers, body = get(app, f"/api/results/{answer['id']}/uncertainty.png")
    assert status == 400 and "distribution head" in json.loads(body)["error"]
    assert post(app, gray_photo(), vividness="0.5")[0] == 400

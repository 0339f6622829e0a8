"""HTTP for the web app: the standard library's ThreadingHTTPServer routing the page's requests.

Routes (all answers are JSON, an image, a zip or the page; errors are JSON {"error": one line}):
    GET  /                              the page (page.html), under a Content-Security-Policy that lets
                                        it reach nothing but this server
    GET  /api/info                      moods, upload limit, formats, whether temperature is offered
    POST /api/colorize?name=..&mood=..&color=..&strength=..&temperature=..&vividness=..&format=png|jpg
                                        body: the raw file bytes -> the result's summary (200), a bad
                                        file or setting (400), a file over the limit (413)
    GET  /api/results/<id>/before.jpg   the input as a preview
    GET  /api/results/<id>/after.jpg    the result as a preview
    GET  /api/results/<id>/file         the full-size result, as a download
    GET  /api/results/<id>/uncertainty.png  where the model is unsure of the colour (a distribution head)
    GET  /api/zip?ids=<id>,<id>,...     those results' full-size files as one zip download

Each request runs in its own thread, so a second browser is served while the first one's photo is
being colorized; the service queues the model calls.
"""
import errno
import ipaddress
import json
import logging
import shutil
import sys
import tempfile
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qsl, quote, urlsplit

from gan_colorizer import hint_file
from gan_colorizer.app.service import PhotoService, Settings, UploadTooLarge
from gan_colorizer.errors import ColorizerError, ConfigError

logger = logging.getLogger(__name__)

# The browser lets the page reach this server only; inline CSS/JS are the page's own, data: is its
# empty favicon. So even a slip in page.html cannot make it fetch from the internet.
_PAGE_POLICY = ("default-src 'none'; connect-src 'self'; img-src 'self' data:; "
                "style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'")
_CHUNK = 1 << 20
_MAX_HINTS_BYTES = 1_000_000  # a hint file or a list of colour points: a few KB in practice
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


class AppServer(ThreadingHTTPServer):
    """The web app's server; `service` does the work. server_close() also deletes the stored results."""

    daemon_threads = True  # a browser holding a connection open must not keep Ctrl-C from stopping the app

    def __init__(self, service: PhotoService, host: str, port: int) -> None:
        self.service = service
        self.page = resources.files("gan_colorizer.app").joinpath("page.html").read_bytes()
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host if ':' not in host else f'[{host}]'}:{port}/"

    def server_close(self) -> None:
        super().server_close()
        self.service.close()

    def handle_error(self, request, client_address) -> None:
        """A client that went away or fell silent mid-request (a closed tab, a stalled upload) is routine:
        one debug line, not the traceback socketserver prints to the terminal. Anything else still prints."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            logger.debug("%s: connection dropped (%s)", client_address[0], sys.exc_info()[1])
            return
        super().handle_error(request, client_address)


def make_server(service: PhotoService, host: str = "127.0.0.1", port: int = 8765) -> AppServer:
    """Bind the app to host:port (port 0: any free port; see `.url`). A port in use is a ConfigError."""
    try:
        return AppServer(service, host, port)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is already in use (is the app already running?); "
                              f"choose another with --port") from None
        raise ConfigError(f"cannot listen on {host}:{port} ({err.strerror})") from None


class _Handler(BaseHTTPRequestHandler):
    server: AppServer
    server_version = "gan_colorizer"
    timeout = 120  # seconds a silent connection may hold its thread (a client that stalled mid-upload)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class names it so)
        logger.debug("%s " + format, self.address_string(), *args)

    def _refuse_foreign_host(self) -> bool:
        """DNS-rebinding guard: an app bound to loopback answers only requests addressed to a loopback
        name, so a web page whose own host name was pointed at 127.0.0.1 cannot read the user's photos.
        An app the user bound to a network address (--host 0.0.0.0) serves whatever name reached it."""
        if not ipaddress.ip_address(self.server.server_address[0]).is_loopback:
            return False
        name = urlsplit("//" + self.headers.get("Host", "")).hostname or ""
        if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
            return False
        self._send_json(HTTPStatus.FORBIDDEN, {"error": f"this app answers only on {self.server.url}"})
        return True

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self._refuse_foreign_host():
            return
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if url.path == "/":
            self._send_bytes(self.server.page, "text/html; charset=utf-8",
                             {"Content-Security-Policy": _PAGE_POLICY, "Cache-Control": "no-store"})
        elif url.path == "/api/info":
            self._send_json(HTTPStatus.OK, self.server.service.info())
        elif len(parts) == 4 and parts[:2] == ["api", "results"] and parts[3] in ("before.jpg", "after.jpg", "file",
                                                                                 "uncertainty.png"):
            self._send_result_file(parts[2], parts[3])
        elif len(parts) == 4 and parts[:2] == ["api", "results"] and parts[3] in ("hints", "suggest"):
            self._send_result_extra(parts[2], parts[3], dict(parse_qsl(url.query)))
        elif url.path == "/api/zip":
            self._send_zip(dict(parse_qsl(url.query)).get("ids", ""))
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"nothing at {url.path}"})

    def do_POST(self) -> None:  # noqa: N802
        if self._refuse_foreign_host():
            return
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if len(parts) == 4 and parts[:2] == ["api", "results"] and parts[3] in ("recolor", "hints"):
            self._recolor(parts[2], parts[3], dict(parse_qsl(url.query, keep_blank_values=True)))
            return
        if url.path != "/api/colorize":
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"nothing at {url.path}"})
            return
        length = self._content_length()
        if length is None:
            return
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        name = Path(query.get("name", "").replace("\\", "/")).name or "photo"
        service = self.server.service
        try:
            settings = Settings.from_query(query)
            service.check_upload_size(name, length)
        except ColorizerError as err:
            status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE if isinstance(err, UploadTooLarge) else HTTPStatus.BAD_REQUEST
            self._send_json(status, {"error": str(err)})
            # Then read the body anyway: closing on unread bytes resets the connection, and a browser still
            # sending would lose the message. Answering first serves a client that waits for it before sending.
            self._discard_body(length)
            return
        data = self.rfile.read(length)
        try:
            result = service.colorize(data, name, settings)
        except ColorizerError as err:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
            return
        except Exception:  # uploaded bytes reach decoders and the model; one odd file must not stop the app
            logger.exception("%s: colorizing failed", name)
            self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR,
                            {"error": f"{name}: the app failed on this photo; the terminal shows why"})
            return
        self._send_json(HTTPStatus.OK, result.summary())

    def _recolor(self, result_id: str, kind: str, query: dict[str, str]) -> None:
        """POST .../recolor?<settings> with {"points": [...]} (JSON), or .../hints with a hint file's bytes:
        the photo coloured again, answered like an upload."""
        length = self._content_length()
        if length is None:
            return
        if length > _MAX_HINTS_BYTES:
            self.close_connection = True
            self._send_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "colour points or hints above 1 MB"})
            return
        body, service = self.rfile.read(length), self.server.service
        try:
            if kind == "hints":
                result = service.recolor_from_hints(result_id, body)
            else:
                try:
                    wanted = json.loads(body or b"{}").get("points", [])
                except (ValueError, AttributeError):
                    raise ConfigError('expected a JSON object {"points": [...]}') from None
                result = service.recolor(result_id, Settings.from_query(query), wanted)
        except KeyError:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "this result is gone (was the app restarted?)"})
            return
        except ColorizerError as err:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
            return
        self._send_json(HTTPStatus.OK, result.summary())

    def _send_result_extra(self, result_id: str, kind: str, query: dict[str, str]) -> None:
        """GET .../hints (the result's hint file, to save) or .../suggest?x=&y= (recommended colours)."""
        service = self.server.service
        result = service.result(result_id)
        if result is None:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "this result is gone (was the app restarted?)"})
        elif kind == "hints":
            name = Path(result.name).stem + hint_file.SUFFIX
            self._send_bytes(hint_file.to_json(result.hints()).encode(), "application/json",
                             {"Content-Disposition": _attachment(name)})
        else:
            try:
                x, y = float(query.get("x", "")), float(query.get("y", ""))
                self._send_json(HTTPStatus.OK, {"colours": service.suggest(result_id, x, y)})
            except ValueError:
                self._send_json(HTTPStatus.BAD_REQUEST, {"error": "x and y must be numbers"})
            except ColorizerError as err:
                self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(err)})

    def _content_length(self) -> int | None:
        """The upload's declared size in bytes, or None once it was answered: 411 without one, 400 for one
        that is not a whole number (the body's end is then unknown, so the connection closes)."""
        text = self.headers.get("Content-Length")
        if text is None:
            self._send_json(HTTPStatus.LENGTH_REQUIRED, {"error": "the upload has no Content-Length"})
            return None
        try:
            length = int(text)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": f"Content-Length {text[:40]!r} is not a size in bytes"})
            return None
        return length

    def _discard_body(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, _CHUNK))
            if not chunk:
                return
            length -= len(chunk)

    def _send_result_file(self, result_id: str, kind: str) -> None:
        result = self.server.service.result(result_id)
        if result is None:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "this result is gone (was the app restarted?)"})
        elif kind == "uncertainty.png":
            try:
                path = self.server.service.uncertainty_file(result)
            except ColorizerError as err:
                self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
                return
            with open(path, "rb") as stream:
                self._send_stream(stream, path.stat().st_size, "image/png", {})
        elif kind == "file":
            self.server.service.full_file(result)
            with open(result.file, "rb") as stream:
                self._send_stream(stream, result.file.stat().st_size, _image_type(result.file),
                                  {"Content-Disposition": _attachment(result.download_name)})
        else:
            path = result.before if kind == "before.jpg" else result.after
            with open(path, "rb") as stream:
                self._send_stream(stream, path.stat().st_size, "image/jpeg", {})

    def _send_zip(self, ids: str) -> None:
        service = self.server.service
        results = [service.result(result_id) for result_id in ids.split(",") if result_id]
        if not results or None in results:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "no results to zip, or some are gone (was the app "
                                                            "restarted?)"})
            return
        with tempfile.TemporaryFile() as stream:  # on disk: a folder of scans can be gigabytes
            service.write_zip(results, stream)
            size = stream.tell()
            stream.seek(0)
            self._send_stream(stream, size, "application/zip",
                              {"Content-Disposition": _attachment("colorized photos.zip")})

    def _send_json(self, status: HTTPStatus, payload: dict) -> None:
        self._send_bytes(json.dumps(payload).encode(), "application/json", {}, status)

    def _send_bytes(self, body: bytes, content_type: str, headers: dict[str, str],
                    status: HTTPStatus = HTTPStatus.OK) -> None:
        self._send_head(status, len(body), content_type, headers)
        self.wfile.write(body)

    def _send_stream(self, stream: BinaryIO, size: int, content_type: str, headers: dict[str, str]) -> None:
        self._send_head(HTTPStatus.OK, size, content_type, headers)
        shutil.copyfileobj(stream, self.wfile, _CHUNK)

    def _send_head(self, status: HTTPStatus, size: int, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(size))
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()


def _attachment(filename: str) -> str:
    """A Content-Disposition that saves under `filename`, non-ASCII names included (RFC 6266)."""
    fallback = filename.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


def _image_type(path: Path) -> str:
    return "image/png" if path.suffix == ".png" else "image/jpeg"

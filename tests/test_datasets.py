"""``fetch_omi`` against an unreachable address and against a small local HTTP server serving a fake
OMI layout (a thread on 127.0.0.1, stopped at the end of each test)."""

from __future__ import annotations

import gzip
import io
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from psychoface.data.datasets import DATASETS, OMI_URL, fetch_omi
from psychoface.errors import PsychofaceError

MEANS = b"stimulus,trustworthy,happy\n1,43.5,18.9\n2,65.0,75.7\n3,37.0,23.1\n"
TRIALS = (
    b"rating,attribute,rating_type,stimulus\n50,trustworthy,normal,1\n37,trustworthy,repeat,1\n"
    b"66,happy,normal,2\n23,happy,normal,3\n"
)
LICENSE = b"The OMI face dataset is made available under Creative Commons BY-NC-SA 4.0 license.\n"


def _jpeg(colour) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buf, format="JPEG")
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def fake_omi() -> dict[str, bytes]:
    return {
        "/omi/attribute_means.csv": MEANS,
        "/omi/LICENSE.txt": LICENSE,
        # like an archive made on a Mac: a folder and resource-fork junk beside the CSV
        "/omi/attribute_ratings.zip": _zip({
            "__MACOSX/attribute_ratings/._attribute_ratings.csv": b"\x00\x05junk",
            "attribute_ratings/attribute_ratings.csv": TRIALS,
        }),
        "/omi/images/1.jpg": _jpeg((200, 10, 10)),
        "/omi/images/2.jpg": _jpeg((10, 200, 10)),
        "/omi/images/3.jpg": _jpeg((10, 10, 200)),
    }


class FakeServer:
    """Serves ``routes`` (path -> bytes); a path in ``truncate`` announces more bytes than it sends."""

    def __init__(self, routes: dict[str, bytes], truncate: frozenset[str] = frozenset()):
        self.routes, self.truncate, self.requests = routes, truncate, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                server.requests.append(self.path)
                body = server.routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                extra = 1000 if self.path in server.truncate else 0
                self.send_header("Content-Length", str(len(body) + extra))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/omi/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def _all_files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_registry_describes_omi():
    omi = DATASETS["omi"]
    assert omi["licence"] == "CC BY-NC-SA 4.0"
    assert "10.1073/pnas.2115228119" in omi["citation"] and "119(17)" in omi["citation"]
    assert omi["homepage"] == "https://github.com/jcpeterson/omi"
    assert all(u.startswith(OMI_URL) for u in omi["urls"].values())
    assert {"name", "description", "citation", "licence", "urls"} <= omi.keys()


def test_unreachable_url_gives_one_line_error_and_leaves_nothing(tmp_path):
    dest = tmp_path / "omi"
    with pytest.raises(PsychofaceError) as info:
        fetch_omi(dest, url="http://127.0.0.1:9/")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("http://127.0.0.1:9/attribute_means.csv: download failed")
    assert "check the internet connection" in message and str(dest) in message
    assert not dest.exists() and _all_files(tmp_path) == []


def test_fetch_lays_out_the_files(tmp_path):
    routes = fake_omi()
    dest = tmp_path / "data" / "omi"
    calls = []
    with FakeServer(routes) as server:
        out = fetch_omi(dest, url=server.url, progress=lambda *a: calls.append(a))
    assert out == dest
    assert _all_files(dest) == [
        "LICENSE.txt", "README.md", "attribute_means.csv", "attribute_ratings.csv.gz",
        "images/1.jpg", "images/2.jpg", "images/3.jpg",
    ]
    assert (dest / "attribute_means.csv").read_bytes() == MEANS
    assert gzip.decompress((dest / "attribute_ratings.csv.gz").read_bytes()) == TRIALS
    assert (dest / "LICENSE.txt").read_bytes() == LICENSE
    for i in (1, 2, 3):
        assert (dest / "images" / f"{i}.jpg").read_bytes() == routes[f"/omi/images/{i}.jpg"]
    readme = (dest / "README.md").read_text()
    assert "CC BY-NC-SA 4.0" in readme and "10.1073/pnas.2115228119" in readme and server.url in readme
    assert [c[:2] for c in calls] == [(i, 6) for i in range(1, 7)]
    assert {c[2] for c in calls} == {"attribute_means.csv", "LICENSE.txt", "attribute_ratings.csv.gz",
                                     "images/1.jpg", "images/2.jpg", "images/3.jpg"}


def test_rerun_downloads_only_what_is_missing(tmp_path):
    with FakeServer(fake_omi()) as server:
        fetch_omi(tmp_path, url=server.url)
        (tmp_path / "images" / "2.jpg").unlink()
        (tmp_path / "images" / ".2.jpg.abc123.part").write_bytes(b"half")  # as left by a killed run
        server.requests.clear()
        fetch_omi(tmp_path, url=server.url)
    assert server.requests == ["/omi/images/2.jpg"]
    assert (tmp_path / "images" / "2.jpg").exists()
    assert not (tmp_path / "images" / ".2.jpg.abc123.part").exists()


def test_missing_image_names_its_url_and_leaves_no_partial_file(tmp_path):
    routes = fake_omi()
    del routes["/omi/images/3.jpg"]
    with FakeServer(routes) as server, pytest.raises(PsychofaceError) as info:
        fetch_omi(tmp_path, url=server.url)
    assert str(info.value).startswith(f"{server.url}images/3.jpg: download failed (HTTP 404")
    files = _all_files(tmp_path)
    assert not any(".part" in f or f.endswith(".zip") for f in files)
    assert "images/3.jpg" not in files and "README.md" not in files
    for f in files:  # whatever is there is complete
        if f.startswith("images/"):
            assert (tmp_path / f).read_bytes() == routes[f"/omi/{f}"]


def test_truncated_download_is_not_kept(tmp_path):
    with FakeServer(fake_omi(), truncate=frozenset({"/omi/images/2.jpg"})) as server:
        with pytest.raises(PsychofaceError, match=r"images/2\.jpg: (incomplete download|download failed)"):
            fetch_omi(tmp_path, url=server.url)
    files = _all_files(tmp_path)
    assert "images/2.jpg" not in files and not any(".part" in f for f in files)


@pytest.mark.parametrize("path, body, message", [
    ("/omi/images/1.jpg", b"<html>sign in to the wifi</html>", "not a readable image"),
    ("/omi/attribute_means.csv", b"<html><body>moved</body></html>", "not the OMI attribute means"),
    ("/omi/attribute_ratings.zip", b"PK\x03\x04 broken", "not a valid zip archive"),
    ("/omi/attribute_ratings.zip", _zip({"other.csv": b"a,b\n"}), "holds no attribute_ratings.csv"),
])
def test_wrong_content_is_refused(tmp_path, path, body, message):
    routes = fake_omi() | {path: body}
    dest = tmp_path / "omi"
    with FakeServer(routes) as server, pytest.raises(PsychofaceError, match=message) as info:
        fetch_omi(dest, url=server.url)
    assert str(info.value).startswith(server.url + path.removeprefix("/omi/"))
    assert "check the URL" in str(info.value) and str(dest) in str(info.value)
    files = _all_files(tmp_path)
    assert not any(".part" in f or f.endswith(".zip") for f in files)
    assert path.removeprefix("/omi/") not in files

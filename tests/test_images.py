"""Finding and opening face images: natural order, hidden files, every colour mode, EXIF, bombs, corrupt files."""

from __future__ import annotations

import concurrent.futures
import hashlib
import multiprocessing
import pickle
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from psychoface.data.images import (
    ALPHA_BACKGROUND,
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    PREPROCESSING_DESCRIPTION,
    Stimulus,
    find_images,
    hash_file,
    natural_key,
    open_image,
    probe_image,
)
from psychoface.errors import PsychofaceError

SHARED = Path(__file__).resolve().parents[2] / "shared"


def _touch_image(path: Path, size=(8, 6), color=(10, 20, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels in a few bytes (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def _mode(path) -> str:
    with Image.open(path) as im:
        return im.mode


def _pixels(path) -> np.ndarray:
    im = open_image(path)
    assert im.mode == "RGB"
    return np.asarray(im)


# ------------------------------------------------------------------------------------------ find_images


def test_find_images_recursive_natural_order_hidden_skipped(tmp_path):
    for name in ["10.jpg", "2.png", "sub/1.JPG", "sub/deeper/3.TIFF", "20.webp", "4.bmp", "5.jpeg", "6.tif"]:
        _touch_image(tmp_path / name)
    _touch_image(tmp_path / ".hidden.jpg")
    _touch_image(tmp_path / ".git" / "7.jpg")
    _touch_image(tmp_path / "sub" / ".ipynb_checkpoints" / "8.png")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "ratings.csv").write_text("stimulus,x\n1,2\n")
    stimuli = find_images(tmp_path)
    assert [s.id for s in stimuli] == ["1", "2", "3", "4", "5", "6", "10", "20"]
    assert all(s.path.is_absolute() and s.path.is_file() for s in stimuli)
    assert stimuli[0].path == (tmp_path / "sub" / "1.JPG").resolve()
    assert stimuli[2].path.name == "3.TIFF"


def test_natural_order_with_prefixes_and_case():
    ids = ["face10", "Face3", "face2", "face_1", "face01", "b", "A"]
    assert sorted(ids, key=natural_key) == ["A", "b", "face01", "face2", "Face3", "face10", "face_1"]
    assert sorted(["1", "01", "001"], key=natural_key) == ["001", "01", "1"]  # total, reproducible order
    assert sorted(["b", "a1", "10", "a", "2", "a10b", "a2"], key=natural_key) == ["2", "10", "a", "a1", "a2", "a10b", "b"]


def test_extensions_are_the_documented_ones():
    assert IMAGE_EXTENSIONS == {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def test_duplicate_stems_name_both_files(tmp_path):
    a = _touch_image(tmp_path / "a" / "face.jpg")
    b = _touch_image(tmp_path / "b" / "face.png")
    with pytest.raises(PsychofaceError) as err:
        find_images(tmp_path)
    msg = str(err.value)
    assert str(a.resolve()) in msg and str(b.resolve()) in msg and "'face'" in msg
    assert "rename" in msg and "path_column" in msg and "\n" not in msg


def test_find_images_missing_folder(tmp_path):
    with pytest.raises(PsychofaceError, match="images folder not found"):
        find_images(tmp_path / "nope")


def test_find_images_file_not_folder(tmp_path):
    f = _touch_image(tmp_path / "x.jpg")
    with pytest.raises(PsychofaceError, match="not a folder"):
        find_images(f)


def test_find_images_no_images_names_folder_and_extensions(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    _touch_image(tmp_path / ".only_hidden.png")
    with pytest.raises(PsychofaceError) as err:
        find_images(tmp_path)
    msg = str(err.value)
    assert str(tmp_path.resolve()) in msg and ".jpg" in msg and ".webp" in msg


def test_stimulus_is_frozen_and_picklable(tmp_path):
    s = Stimulus("1", tmp_path / "1.jpg")
    assert pickle.loads(pickle.dumps(s)) == s
    with pytest.raises(AttributeError):
        s.id = "2"


# ------------------------------------------------------------------------------------------ colour modes


def test_rgb_passes_through_unchanged(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    Image.fromarray(a).save(tmp_path / "x.png")
    np.testing.assert_array_equal(_pixels(tmp_path / "x.png"), a)


def test_grayscale_l_replicated(tmp_path):
    a = np.arange(60, dtype=np.uint8).reshape(6, 10) * 4
    Image.fromarray(a).save(tmp_path / "g.png")
    out = _pixels(tmp_path / "g.png")
    assert out.shape == (6, 10, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], a)


def test_bilevel_mode_1(tmp_path):
    im = Image.new("1", (4, 3), 0)
    im.putpixel((1, 1), 1)
    im.save(tmp_path / "b.png")
    out = _pixels(tmp_path / "b.png")
    assert out[1, 1].tolist() == [255, 255, 255] and out[0, 0].tolist() == [0, 0, 0]


def test_rgba_composited_on_white(tmp_path):
    assert ALPHA_BACKGROUND == (255, 255, 255)
    a = np.zeros((2, 3, 4), dtype=np.uint8)
    a[0, 0] = (255, 0, 0, 0)      # fully transparent red -> white
    a[0, 1] = (255, 0, 0, 255)    # opaque red -> red
    a[0, 2] = (0, 0, 255, 128)    # half-transparent blue -> blue over white
    Image.fromarray(a, "RGBA").save(tmp_path / "a.png")
    out = _pixels(tmp_path / "a.png").astype(int)
    assert out[0, 0].tolist() == [255, 255, 255]
    assert out[0, 1].tolist() == [255, 0, 0]
    expected = np.array([0, 0, 255]) * 128 / 255 + np.array(ALPHA_BACKGROUND) * (1 - 128 / 255)
    np.testing.assert_allclose(out[0, 2], expected, atol=1)


def test_la_composited_on_white(tmp_path):
    Image.new("LA", (3, 3), (0, 0)).save(tmp_path / "la.png")
    Image.new("LA", (3, 3), (0, 255)).save(tmp_path / "la_opaque.png")
    assert _pixels(tmp_path / "la.png")[0, 0].tolist() == [255, 255, 255]
    assert _pixels(tmp_path / "la_opaque.png")[0, 0].tolist() == [0, 0, 0]


def test_palette_with_and_without_transparency(tmp_path):
    palette = [0, 0, 0, 200, 10, 20] + [0] * (256 * 3 - 6)
    im = Image.new("P", (4, 4), 1)
    im.putpalette(palette)
    im.putpixel((0, 0), 0)
    im.save(tmp_path / "p.png")
    out = _pixels(tmp_path / "p.png")
    assert out[1, 1].tolist() == [200, 10, 20] and out[0, 0].tolist() == [0, 0, 0]
    im.info["transparency"] = 0  # palette index 0 transparent
    im.save(tmp_path / "pt.png", transparency=0)
    assert _mode(tmp_path / "pt.png") == "P"
    out = _pixels(tmp_path / "pt.png")
    assert out[0, 0].tolist() == [255, 255, 255] and out[1, 1].tolist() == [200, 10, 20]


def test_cmyk_jpeg(tmp_path):
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=100)
    assert _mode(tmp_path / "c.jpg") == "CMYK"
    out = _pixels(tmp_path / "c.jpg").astype(int)
    np.testing.assert_allclose(out[8, 8], [255, 0, 0], atol=3)  # no cyan, no black -> red


def test_16_bit_png_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 1000, 32768, 65535, 128]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert _mode(tmp_path / "g16.png") == "I;16"
    out = _pixels(tmp_path / "g16.png")[..., 0]
    np.testing.assert_array_equal(out, np.rint(values / 257).astype(np.uint8))
    assert out.tolist() == [[0, 1, 4, 128, 255, 0]]  # clipping would give 255 for everything above 255


def test_16_bit_big_endian_tiff(tmp_path):
    values = np.array([[0, 25700, 65535], [514, 12850, 300]], dtype=np.uint16)
    im = Image.frombytes("I;16B", (3, 2), values.astype(">u2").tobytes())
    im.save(tmp_path / "g16b.tif")
    assert _mode(tmp_path / "g16b.tif") == "I;16B"
    np.testing.assert_array_equal(_pixels(tmp_path / "g16b.tif")[..., 1], np.rint(values / 257))


def test_32_bit_integer_mode_i(tmp_path):
    values = np.array([[0, 65535, 70000, -5, 2570]], dtype=np.int32)
    Image.fromarray(values).save(tmp_path / "i.tif")
    assert _mode(tmp_path / "i.tif") == "I"
    assert _pixels(tmp_path / "i.tif")[..., 2].tolist() == [[0, 255, 255, 0, 10]]


def test_float_mode_f_both_scales(tmp_path):
    unit = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    Image.fromarray(unit).save(tmp_path / "unit.tif")
    assert _mode(tmp_path / "unit.tif") == "F"
    assert _pixels(tmp_path / "unit.tif")[..., 0].tolist() == [[0, 128, 255]]
    byte_scale = np.array([[0.0, 127.6, 300.0, np.nan]], dtype=np.float32)
    Image.fromarray(byte_scale).save(tmp_path / "bytes.tif")
    assert _pixels(tmp_path / "bytes.tif")[..., 0].tolist() == [[0, 128, 255, 0]]


def test_exif_orientation_applied(tmp_path):
    # Stored 40 x 20: top half red, bottom half blue. Orientation 6 = rotate 90 degrees clockwise to display,
    # so the displayed image is 20 x 40 with the (stored) top on the right: right half red, left half blue.
    a = np.zeros((20, 40, 3), dtype=np.uint8)
    a[:10] = (255, 0, 0)
    a[10:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(a).save(tmp_path / "rot.jpg", exif=exif, quality=95)
    Image.fromarray(a).save(tmp_path / "plain.jpg", quality=95)
    plain = _pixels(tmp_path / "plain.jpg").astype(int)
    assert plain.shape == (20, 40, 3)
    out = _pixels(tmp_path / "rot.jpg").astype(int)
    assert out.shape == (40, 20, 3)
    np.testing.assert_allclose(out[20, 15], [255, 0, 0], atol=20)
    np.testing.assert_allclose(out[20, 4], [0, 0, 255], atol=20)
    np.testing.assert_allclose(out, np.rot90(plain, k=-1), atol=25)  # rot90 k=-1: clockwise


def test_exif_orientation_on_grayscale(tmp_path):
    a = np.zeros((4, 6), dtype=np.uint8)
    a[0, 0] = 255
    exif = Image.Exif()
    exif[0x0112] = 3  # rotate 180
    Image.fromarray(a).save(tmp_path / "g.png", exif=exif)
    out = _pixels(tmp_path / "g.png")[..., 0]
    np.testing.assert_array_equal(out, np.rot90(a, 2))


# ------------------------------------------------------------------------------------------ bad files


def test_truncated_jpeg_fails_on_decode_not_on_header(tmp_path):
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "full.jpg", quality=95)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    assert probe_image(tmp_path / "cut.jpg").width == 64
    with pytest.raises(PsychofaceError) as err:
        open_image(tmp_path / "cut.jpg")
    msg = str(err.value)
    assert str(tmp_path / "cut.jpg") in msg and "truncated" in msg and "\n" not in msg
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_text_file_named_jpg(tmp_path):
    (tmp_path / "x.jpg").write_text("hello, I am not a face")
    for f in (open_image, probe_image):
        with pytest.raises(PsychofaceError, match=r"x\.jpg: not an image"):
            f(tmp_path / "x.jpg")


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(PsychofaceError, match="empty.png"):
        open_image(tmp_path / "empty.png")
    with pytest.raises(PsychofaceError, match="not found"):
        open_image(tmp_path / "missing.png")


def test_corrupt_png_data(tmp_path):
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "x.png")
    data = bytearray((tmp_path / "x.png").read_bytes())
    data[60:80] = b"\x00" * 20  # inside the IDAT stream
    (tmp_path / "x.png").write_bytes(bytes(data))
    with pytest.raises(PsychofaceError, match=r"x\.png: truncated or corrupt"):
        open_image(tmp_path / "x.png")


def test_bomb_refused_by_max_pixels(tmp_path):
    _touch_image(tmp_path / "big.png", size=(100, 60))
    for f in (open_image, probe_image):
        with pytest.raises(PsychofaceError) as err:
            f(tmp_path / "big.png", max_pixels=5_000)
        msg = str(err.value)
        assert "100 x 60 = 6,000 pixels" in msg and "5,000" in msg and "decompression" in msg
    assert open_image(tmp_path / "big.png", max_pixels=6_000).size == (100, 60)


@pytest.mark.parametrize("side", [10_000, 20_000])  # above Pillow's warning limit; above its error limit
def test_pillow_bomb_warning_and_error_never_escape(tmp_path, side):
    (tmp_path / "bomb.png").write_bytes(_png_header(side, side))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(PsychofaceError) as err:
            open_image(tmp_path / "bomb.png")
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert f"{side * side:,} pixels" in str(err.value) and f"{DEFAULT_MAX_PIXELS:,}" in str(err.value)


def test_raised_limit_accepts_large_header_silently(tmp_path):
    (tmp_path / "large.png").write_bytes(_png_header(10_000, 10_000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a DecompressionBombWarning would fail the test
        info = probe_image(tmp_path / "large.png", max_pixels=150_000_000)
    assert (info.width, info.height, info.format) == (10_000, 10_000, "PNG")


def test_no_global_state_changed(tmp_path):
    filters = list(warnings.filters)
    limit = Image.MAX_IMAGE_PIXELS
    _touch_image(tmp_path / "ok.png")
    (tmp_path / "bomb.png").write_bytes(_png_header(10_000, 10_000))
    open_image(tmp_path / "ok.png")
    with pytest.raises(PsychofaceError):
        open_image(tmp_path / "bomb.png")
    assert warnings.filters == filters and Image.MAX_IMAGE_PIXELS == limit
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def _decode(path):
    return np.asarray(open_image(path))


def test_works_in_spawned_worker_processes(tmp_path):
    """DataLoader workers may be spawned: fresh interpreters that import the module, no inherited state."""
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (5, 7, 4), dtype=np.uint8)
    Image.fromarray(a, "RGBA").save(tmp_path / "a.png")
    Image.fromarray(a[..., 0]).save(tmp_path / "g.png")
    (tmp_path / "bad.jpg").write_text("x")
    paths = [tmp_path / "a.png", tmp_path / "g.png"]
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(_decode, paths))
        with pytest.raises(PsychofaceError, match="not an image"):
            pool.submit(_decode, tmp_path / "bad.jpg").result()
    for path, result in zip(paths, results):
        np.testing.assert_array_equal(result, _decode(path))


# ------------------------------------------------------------------------------------------ misc


def test_hash_file(tmp_path):
    f = _touch_image(tmp_path / "x.png")
    assert hash_file(f) == hashlib.sha256(f.read_bytes()).hexdigest()
    with pytest.raises(PsychofaceError, match="cannot be read"):
        hash_file(tmp_path / "missing.png")


def test_preprocessing_description_states_the_rules():
    text = PREPROCESSING_DESCRIPTION
    assert "EXIF" in text and "white" in text and "257" in text and "RGB" in text


def test_omi_images():
    folder = SHARED / "data" / "omi" / "images"
    if not folder.is_dir():
        pytest.skip("../shared/data/omi is absent (a fresh clone has no shared data)")
    stimuli = find_images(folder)
    assert len(stimuli) == 500
    assert [s.id for s in stimuli[:12]] == [str(i) for i in range(1, 13)]
    im = open_image(stimuli[0].path)
    assert im.mode == "RGB" and im.size == (1024, 1024)

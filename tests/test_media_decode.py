"""Image uploads stay within a memory budget: what is decoded, how much, and one at a time.

The large images come from ``samples.flat_png``, compressed row by row, so a test never
holds the pixels it describes: a 5000 x 5000 PNG of 16-bit pixels is 145 KB of file and
100 MB decoded.
"""

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from app.services.media import images
from tests.fixtures import media as samples
from tests.fixtures.media import GREY, RGBA, bucket_keys, flat_png, upload

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def headers(as_author):
    return as_author[1]


def test_a_large_16_bit_png_is_stored_without_being_decoded(client, env, headers):
    data = flat_png(5000, 5000, bit_depth=16)
    assert len(data) < 200_000  # 100 MB once decoded
    record = upload(client, headers, "big.png", data).json["file"]
    assert (record["mimeType"], record["width"], record["height"]) == ("image/png", 5000, 5000)
    assert record["thumbnailUrl"] is None  # over the pixels a thumbnail may decode
    assert bucket_keys(env) == [record["r2_key"]]
    assert client.get(record["publicUrl"], headers=headers).body == data


@pytest.mark.parametrize("colour, thumbnail", [(RGBA, False), (GREY, True)], ids=["rgba-64MB", "grey-16MB"])
def test_the_thumbnail_budget_counts_decoded_bytes(client, env, headers, colour, thumbnail):
    # 4000 x 4000 is under the pixel cap; decoded, RGBA takes 64 MB (over 48 MiB), grey 16 MB.
    record = upload(client, headers, "square.png", flat_png(4000, 4000, colour=colour)).json["file"]
    assert (record["width"], record["height"]) == (4000, 4000)
    assert (record["thumbnailUrl"] is not None) is thumbnail
    assert len(bucket_keys(env)) == (2 if thumbnail else 1)


def test_a_large_jpeg_is_thumbnailed_through_scaled_decoding(client, headers):
    # 6000 x 4000 at full size is over every cap; JPEG decodes it at 1/8, 750 x 500.
    out = io.BytesIO()
    Image.new("L", (6000, 4000), 90).save(out, "JPEG", quality=50)
    record = upload(client, headers, "photo.jpg", out.getvalue()).json["file"]
    with Image.open(io.BytesIO(client.get(record["thumbnailUrl"], headers=headers).body)) as thumb:
        assert thumb.size == (320, 213)


def test_16_bit_grey_gets_no_thumbnail_and_no_decode(client, env, headers):
    record = upload(client, headers, "scan.png", flat_png(300, 200, bit_depth=16, colour=GREY)).json["file"]
    assert (record["width"], record["height"], record["thumbnailUrl"]) == (300, 200, None)


def test_one_decode_at_a_time_per_process(client, env, headers, monkeypatch):
    monkeypatch.setattr(images, "DECODE_WAIT_SECONDS", 0)  # do not wait for the slot below
    with images.decode_slot():
        # Another request of this process is decoding: this upload gets no thumbnail.
        busy = upload(client, headers, "a.png", samples.png((400, 300))).json["file"]
    assert busy["thumbnailUrl"] is None and bucket_keys(env) == [busy["r2_key"]]
    free = upload(client, headers, "b.png", samples.png((400, 300))).json["file"]
    assert free["thumbnailUrl"] is not None


def test_exif_orientation_turns_the_thumbnail_as_it_turns_the_dimensions(client, headers):
    record = upload(client, headers, "phone.jpg", samples.jpeg((400, 200), orientation=6)).json["file"]
    assert (record["width"], record["height"]) == (200, 400)
    with Image.open(io.BytesIO(client.get(record["thumbnailUrl"], headers=headers).body)) as thumb:
        assert thumb.size == (160, 320)


# What a fresh process's peak memory grows by while it reads the image's dimensions and
# tries its thumbnail: measured in a child so nothing else of the suite is counted.
PEAK_GROWTH = textwrap.dedent("""
    import io, json, resource, sys
    from app.services.media import images

    data = open(sys.argv[1], "rb").read()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    found = images.dimensions(io.BytesIO(data))
    try:
        images.thumbnail(io.BytesIO(data))
        outcome = "thumbnail"
    except images.ThumbnailSkipped:
        outcome = "skipped"
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(json.dumps({"size": [found.width, found.height], "outcome": outcome, "grown_kib": grown}))
""")


def test_reading_a_large_png_decodes_nothing(tmp_path):
    # Pillow decodes a whole PNG when asked for EXIF its header lacks (100 MB here).
    path = tmp_path / "big.png"
    path.write_bytes(flat_png(5000, 5000, bit_depth=16))
    child = subprocess.run([sys.executable, "-c", PEAK_GROWTH, str(path)], cwd=PROJECT_ROOT,
                           capture_output=True, text=True, check=True)
    result = json.loads(child.stdout)
    assert result["size"] == [5000, 5000] and result["outcome"] == "skipped"
    assert result["grown_kib"] < 20 * 1024, result

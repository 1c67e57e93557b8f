#!/usr/bin/env python3
"""Writes tests/fixtures/convert_images/: small JPEG and PNG files of every kind the image
converters meet (RGB, grayscale, CMYK, progressive, 4:4:4, gray+alpha, palette with
transparency, RGBA, 16-bit, one smaller than the target, two broken files) and expected.h5 with
what the published pipeline makes of them: PIL's Image.open(f).convert('RGB') (/decoded) and
.resize((S, S), Image.BILINEAR) (/resized), planar uint8 [3, h, w].

Needs Debian's python3-pil, python3-h5py and python3-numpy: run with /usr/bin/python3 from the
repository root:  /usr/bin/python3 tests/tools/make_convert_fixtures.py
The content is seeded, so re-running gives the same pixels.
"""
import io
import os
import struct
import sys
import zlib

import h5py
import numpy as np
import PIL
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "convert_images")
SIZE = 24  # the img_size the tests convert to


def scene(rng, h, w, c):
    """Smooth gradients plus a disc and some noise: JPEG-like content, not just noise."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = []
    for k in range(c):
        v = 40 + 150 * (x / w) * (k % 2) + 150 * (y / h) * ((k + 1) % 2)
        v += 60 * (((x - w * 0.6) ** 2 + (y - h * 0.4) ** 2) < (min(h, w) * 0.3) ** 2)
        v += rng.normal(0, 12, size=(h, w))
        planes.append(np.clip(v, 0, 255))
    return np.stack(planes, -1).astype(np.uint8)


def png_chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png16(values, color_type):
    """A 16-bit PNG written by hand (PIL cannot write 16-bit RGB). values: h x w (x 3) uint16."""
    h, w = values.shape[:2]
    raw = b"".join(b"\x00" + values[r].astype(">u2").tobytes() for r in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) +
            png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def encode(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def make_files(rng):
    files = {}
    files["rgb.jpg"] = encode(Image.fromarray(scene(rng, 36, 48, 3), "RGB"), "JPEG", quality=90)
    files["rgb444_progressive.jpg"] = encode(Image.fromarray(scene(rng, 29, 41, 3), "RGB"),
                                             "JPEG", quality=85, subsampling=0, progressive=True)
    files["gray.jpg"] = encode(Image.fromarray(scene(rng, 30, 40, 1)[..., 0], "L"), "JPEG",
                               quality=90)
    # PIL writes CMYK JPEGs Adobe-inverted (rawmode CMYK;I) with an Adobe marker, as Photoshop.
    files["cmyk.jpg"] = encode(Image.fromarray(scene(rng, 28, 36, 4), "CMYK"), "JPEG", quality=90)
    files["rgb.png"] = encode(Image.fromarray(scene(rng, 25, 33, 3), "RGB"), "PNG")
    files["gray.png"] = encode(Image.fromarray(scene(rng, 20, 30, 1)[..., 0], "L"), "PNG")
    files["gray_alpha.png"] = encode(Image.fromarray(scene(rng, 21, 28, 2), "LA"), "PNG")
    pal = Image.fromarray(scene(rng, 24, 32, 3), "RGB").quantize(colors=16)
    files["palette.png"] = encode(pal, "PNG", transparency=0)
    files["rgba.png"] = encode(Image.fromarray(scene(rng, 26, 35, 4), "RGBA"), "PNG")
    v16 = scene(rng, 22, 30, 3).astype(np.uint16) * 257 + rng.randint(0, 257, (22, 30, 3))
    files["rgb16.png"] = png16(v16.astype(np.uint16), 2)
    g16 = scene(rng, 19, 27, 1)[..., 0].astype(np.uint16) * 257
    files["gray16.png"] = png16(g16, 0)
    files["bilevel.png"] = encode(Image.fromarray(scene(rng, 18, 26, 1)[..., 0] > 120), "PNG")
    files["small.png"] = encode(Image.fromarray(scene(rng, 9, 12, 3), "RGB"), "PNG")
    good = files["rgb.jpg"]
    files["truncated.jpg"] = good[: len(good) * 6 // 10]
    files["garbage.jpg"] = b"this is not an image, whatever its name says\n" * 3
    return files


# Files PIL (and the converter) must refuse.
BAD = ["truncated.jpg", "garbage.jpg"]
# PIL opens a 16-bit gray PNG as mode "I" and convert('RGB') clips it to 0..255 (a white image);
# the converter keeps the high byte, as PIL itself does for 16-bit RGB. Expected: that rule.
HIGH_BYTE = ["gray16.png"]


def open_rgb(path, name):
    img = Image.open(path)
    if name in HIGH_BYTE:
        return Image.fromarray((np.asarray(img).astype(np.uint32) >> 8).astype(np.uint8),
                               "L").convert("RGB")
    return img.convert("RGB")


def main():
    rng = np.random.RandomState(20241201)
    files = make_files(rng)
    os.makedirs(OUT, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    path = os.path.join(OUT, "expected.h5")
    with h5py.File(path + ".tmp", "w") as f:
        f.attrs["generator"] = "tests/tools/make_convert_fixtures.py"
        f.attrs["pillow"] = PIL.__version__
        f.attrs["img_size"] = SIZE
        f.attrs["bad"] = BAD
        f.attrs["high_byte_not_pil"] = HIGH_BYTE
        for name in sorted(files):
            if name in BAD:
                try:
                    Image.open(os.path.join(OUT, name)).convert("RGB")
                except Exception as e:  # PIL refuses it too: the converter must agree
                    print(name, "refused by PIL:", e, file=sys.stderr)
                    continue
                sys.exit(f"{name} should be unreadable but PIL decoded it")
            img = open_rgb(os.path.join(OUT, name), name)
            dec = np.asarray(img).transpose(2, 0, 1)
            res = np.asarray(img.resize((SIZE, SIZE), Image.BILINEAR)).transpose(2, 0, 1)
            f.create_dataset("decoded/" + name, data=np.ascontiguousarray(dec))
            f.create_dataset("resized/" + name, data=np.ascontiguousarray(res))
    os.replace(path + ".tmp", path)
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print("wrote", os.path.normpath(OUT), total, "bytes", file=sys.stderr)


if __name__ == "__main__":
    main()

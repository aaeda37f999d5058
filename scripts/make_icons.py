"""Draw fieldcrm's app icons (a white map pin on the brand blue) as PNG files.

Only the standard library: the pixels are computed here and written with zlib and
struct. Run it after changing the mark or the colours, and commit the PNGs:

    .venv/bin/python scripts/make_icons.py

Writes fieldcrm/static/icons/: icon-192.png and icon-512.png (rounded square, for
"any"), icon-maskable-512.png (full bleed, the mark inside the 80 % safe zone) and
apple-touch-icon.png (180 px, full bleed: iOS rounds the corners itself).
"""

import math
import struct
import zlib
from pathlib import Path

BRAND = (0x0F, 0x5F, 0x8C)  # --accent in static/css/app.css
MARK = (0xFF, 0xFF, 0xFF)
OUT = Path(__file__).resolve().parent.parent / "fieldcrm" / "static" / "icons"
SAMPLES = 4  # per axis: 16 samples per pixel smooth the edges


def png(width: int, height: int, rows: list[bytes]) -> bytes:
    """A non-interlaced 8-bit RGBA PNG from raw rows of pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def in_pin(x: float, y: float, scale: float) -> bool:
    """Whether (x, y) in the unit square lies on the pin: a teardrop with a round hole.

    ``scale`` shrinks the mark around the centre (1 = the mark's full size).
    """
    x, y = 0.5 + (x - 0.5) / scale, 0.5 + (y - 0.5) / scale
    cx, cy, radius, tip = 0.5, 0.41, 0.2, 0.83
    dx, dy = x - cx, y - cy
    distance = math.hypot(dx, dy)
    if distance < radius * 0.42:
        return False
    if distance <= radius:
        return True
    reach = tip - cy  # from the circle's centre down to the tip
    half_angle = math.asin(radius / reach)
    vx, vy = x - cx, y - tip  # from the tip
    along = -vy  # towards the centre
    if along <= 0:
        return False
    angle = math.atan2(abs(vx), along)
    tangent = math.sqrt(reach * reach - radius * radius)
    return angle <= half_angle and along <= tangent * math.cos(half_angle)


def in_rounded_square(x: float, y: float, corner: float) -> bool:
    qx, qy = max(abs(x - 0.5) - (0.5 - corner), 0), max(abs(y - 0.5) - (0.5 - corner), 0)
    return math.hypot(qx, qy) <= corner


def draw(size: int, *, full_bleed: bool, scale: float) -> bytes:
    """The icon as PNG bytes: brand background (rounded unless full bleed), white pin."""
    rows = []
    step = 1 / (size * SAMPLES)
    for py in range(size):
        row = bytearray()
        for px in range(size):
            background = mark = 0
            for sy in range(SAMPLES):
                y = (py * SAMPLES + sy + 0.5) * step
                for sx in range(SAMPLES):
                    x = (px * SAMPLES + sx + 0.5) * step
                    if full_bleed or in_rounded_square(x, y, 0.18):
                        background += 1
                        mark += in_pin(x, y, scale)
            total = SAMPLES * SAMPLES
            alpha = background / total
            if background:
                share = mark / background
                colour = [round(b + (m - b) * share) for b, m in zip(BRAND, MARK, strict=True)]
            else:
                colour = list(BRAND)
            row += bytes(colour) + bytes([round(alpha * 255)])
        rows.append(bytes(row))
    return png(size, size, rows)


ICONS = {
    "icon-192.png": (192, False, 1.0),
    "icon-512.png": (512, False, 1.0),
    "icon-maskable-512.png": (512, True, 0.72),  # inside the maskable safe zone (radius 40 %)
    "apple-touch-icon.png": (180, True, 0.85),
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (size, full_bleed, scale) in ICONS.items():
        (OUT / name).write_bytes(draw(size, full_bleed=full_bleed, scale=scale))
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()

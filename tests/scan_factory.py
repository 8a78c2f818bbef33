"""Scanned documents made on the spot: text drawn with a real font, turned a few degrees
and sprinkled with specks, as a scanner or a phone would hand them over.

The font is DejaVu Sans from Debian's ``fonts-dejavu-core`` (installed by ``.ci/run``).
"""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def render_scan(
    lines: Sequence[str],
    *,
    angle: float = 2.0,
    noise: float = 0.03,
    size: int = 30,
    seed: int = 0,
    card: bool = False,
) -> Image.Image:
    """``lines`` on a white sheet, rotated by ``angle`` degrees, with a share ``noise`` of
    the pixels turned to random specks and a slight blur. ``card`` draws a framed card
    with a gray background, like a photographed carte Vitale."""
    font = ImageFont.truetype(str(FONT), size)
    step = int(size * 1.8)
    width = 60 + max(int(font.getlength(line)) for line in lines)
    height = 40 + step * len(lines)
    background = 225 if card else 255
    sheet = Image.new("L", (width + 40, height + 40), 255)
    draw = ImageDraw.Draw(sheet)
    if card:
        draw.rounded_rectangle((10, 10, width + 30, height + 30), 24, fill=background, outline=90)
    for i, line in enumerate(lines):
        draw.text((40, 30 + step * i), line, font=font, fill=20)
    sheet = sheet.rotate(angle, expand=True, fillcolor=255, resample=Image.Resampling.BICUBIC)
    rnd = random.Random(seed)
    pixels = sheet.load()
    assert pixels is not None
    for _ in range(int(sheet.width * sheet.height * noise)):
        x, y = rnd.randrange(sheet.width), rnd.randrange(sheet.height)
        pixels[x, y] = rnd.choice((0, 80, 160, 255))
    return sheet.filter(ImageFilter.GaussianBlur(0.5))


def photo_without_text(seed: int = 0, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A picture with shapes and shades but no writing (a wound photo, a landscape)."""
    rnd = random.Random(seed)
    img = Image.new("RGB", size, (120, 160, 200))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x, y = rnd.randrange(size[0]), rnd.randrange(size[1])
        r = rnd.randrange(40, 160)
        colour = (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    return img.filter(ImageFilter.GaussianBlur(6))


def encode(image: Image.Image | Sequence[Image.Image], fmt: str) -> bytes:
    """A picture saved as PNG, JPEG or TIFF (a list of pictures: a multi-page TIFF)."""
    frames = [image] if isinstance(image, Image.Image) else list(image)
    buf = io.BytesIO()
    if fmt == "JPEG":
        frames[0].convert("RGB").save(buf, format="JPEG", quality=80)
    else:
        frames[0].save(buf, format=fmt, save_all=len(frames) > 1, append_images=frames[1:])
    return buf.getvalue()


def image_pdf(pages: Sequence[Image.Image]) -> bytes:
    """A PDF whose pages are only pictures: no text layer at all, as a scanner makes."""
    from fpdf import FPDF

    pdf = FPDF()
    for page in pages:
        pdf.add_page()
        pdf.image(page, x=10, y=10, w=190)
    return bytes(pdf.output())

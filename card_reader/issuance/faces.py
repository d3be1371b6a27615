"""The pictures on an emulated card's face (the 券面AP): a generated face photo and stand-ins
for the printed name, address and security code: the photo JPEG 2000 (in its JP2 box), the
others 1-bit PNG, as a physical card holds them (docs/card.md).

Nothing here depicts anyone: the face is drawn from a seed (the card's label), so a card set
made again looks the same; the name and address images are bars as long as the text, since no
font is assumed [chosen]. Pure: bytes out, no files.
"""

from __future__ import annotations

import hashlib
import io

from PIL import Image, ImageDraw

PHOTO_SIZE = (96, 120)  # [chosen]: a small portrait that keeps the 券面AP's EF within 8 KiB
TEXT_IMAGE_HEIGHT = 16
TEXT_IMAGE_CELL = 8  # pixels per character of the stand-in text images
JPEG2000_RATE = 20  # compression ratio: a photo of about 1.7 KB


def _jpeg2000(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG2000", quality_mode="rates", quality_layers=[JPEG2000_RATE])
    return out.getvalue()


def face_photo(seed: str) -> bytes:
    """A portrait drawn from `seed`: head, hair, eyes and shoulders, in colours of its own."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    width, height = PHOTO_SIZE
    image = Image.new("RGB", PHOTO_SIZE, (200 + digest[0] % 40, 210, 225))
    draw = ImageDraw.Draw(image)
    skin = (180 + digest[1] % 60, 140 + digest[2] % 50, 110 + digest[3] % 50)
    hair = (digest[4] % 90, digest[5] % 70, digest[6] % 60)
    cloth = (digest[7], digest[8], digest[9])
    draw.ellipse((8, height - 30, width - 8, height + 40), fill=cloth)  # shoulders
    face = (24, 22, width - 24, 22 + 62 + digest[10] % 8)
    draw.ellipse((face[0] - 2, face[1] - 8, face[2] + 2, face[1] + 30), fill=hair)
    draw.ellipse(face, fill=skin)
    eye_y = face[1] + 26
    for x in (width // 2 - 12, width // 2 + 8):
        draw.ellipse((x, eye_y, x + 5, eye_y + 4), fill=(30, 30, 40))
    mouth_y = face[1] + 46
    mouth = (width // 2 - 9, mouth_y - 4, width // 2 + 9, mouth_y + 4)
    draw.arc(mouth, 20, 160, fill=(120, 60, 60))
    return _jpeg2000(image)


def text_image(text: str) -> bytes:
    """A stand-in for printed text, as a 1-bit PNG like the card's: one bar per character."""
    length = max(1, len(text))
    image = Image.new("1", (length * TEXT_IMAGE_CELL, TEXT_IMAGE_HEIGHT), 1)
    draw = ImageDraw.Draw(image)
    for i, char in enumerate(text):
        if not char.isspace():
            x = i * TEXT_IMAGE_CELL
            draw.rectangle((x + 1, 3, x + TEXT_IMAGE_CELL - 2, TEXT_IMAGE_HEIGHT - 4), fill=0)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()

"""Render resources/icons/sigma-studio.svg to the PNG sizes of the hicolor theme (a developer step).

Run from the repository root: `python packaging/make_icons.py`. Writes resources/icons/sigma-studio-N.png
for N in ICON_SIZES, sigma-studio.ico and sigma-studio.icns (the installers copy them into the platform's icon folders).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841  (needed by QPainter)
    folder = Path(__file__).resolve().parents[1] / "resources" / "icons"
    renderer = QSvgRenderer(str(folder / "sigma-studio.svg"))
    if not renderer.isValid():
        print("the SVG icon could not be read", file=sys.stderr)
        return 1
    for size in ICON_SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        image.save(str(folder / f"sigma-studio-{size}.png"))
    from PIL import Image

    biggest = Image.open(folder / f"sigma-studio-{ICON_SIZES[-1]}.png")
    biggest.save(folder / "sigma-studio.ico", sizes=[(s, s) for s in ICON_SIZES if s <= 256])  # Windows
    biggest.save(folder / "sigma-studio.icns")  # macOS bundle icon
    print(f"wrote {len(ICON_SIZES)} PNGs, an .ico and an .icns to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

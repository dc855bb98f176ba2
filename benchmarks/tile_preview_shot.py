"""Show the 3x3 tiled preview (ui/tile_preview.py) of a tileable image in a window, for a screenshot.

    python -m benchmarks.tile_preview_shot IMAGE [--seconds 8]

The window shows IMAGE tiled 3x3 (press T to toggle) for --seconds, then quits; take the screenshot
meanwhile (e.g. Xvfb + ImageMagick `import -window root`).

May import: PySide6, ui.tile_preview.
"""

from __future__ import annotations

import argparse
import sys

from PySide6.QtCore import QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from ui.tile_preview import TilePreview


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image")
    parser.add_argument("--seconds", type=float, default=8)
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    view = TilePreview()
    view.setWindowTitle("Sigma Studio — tileable preview (T: 3×3)")
    view.set_image(QImage(args.image))
    view.set_tiled(True)
    view.resize(900, 900)
    view.move(0, 0)
    view.show()
    QTimer.singleShot(int(args.seconds * 1000), app.quit)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())

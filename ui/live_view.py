"""Progress, the live preview of each step, and the finished image with zoom and pan.

May import: PySide6 only.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap, QWheelEvent
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

ZOOM_STEP = 1.25
CANVAS_COLOUR = "#3a3a3a"
MIN_ZOOM, MAX_ZOOM = 0.02, 16.0


def format_eta(seconds: float | None) -> str:
    """'about 12 s left', 'about 3 min left', or '' when unknown."""
    if seconds is None or seconds <= 0:
        return ""
    if seconds < 60:
        return f"about {max(1, round(seconds))} s left"
    return f"about {round(seconds / 60)} min left"


class ImageView(QGraphicsView):
    """Shows one QPixmap; the view transform zooms it (no re-scaled copy per paint), drag pans."""

    zoom_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("imageView")
        self._scene = QGraphicsScene(self)
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._scene.addItem(self.item)
        self.setScene(self._scene)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setBackgroundBrush(QColor(CANVAS_COLOUR))  # a neutral dark canvas in any theme
        self.fit_mode = True
        self.image_size: tuple[int, int] = (0, 0)
        self.placeholder = QGraphicsSimpleTextItem()
        self.placeholder.setBrush(Qt.GlobalColor.lightGray)
        self._scene.addItem(self.placeholder)

    def set_placeholder(self, text: str) -> None:
        """Text shown until the first image arrives (the view is shown from the start: no first-show cost)."""
        self.placeholder.setText(text)
        self.placeholder.setVisible(True)
        self._scene.setSceneRect(self.placeholder.boundingRect().adjusted(-20, -20, 20, 20))

    def zoom(self) -> float:
        """Current scale (1.0 = one image pixel per screen pixel)."""
        return self.transform().m11()

    def set_pixmap(self, pixmap: QPixmap, logical_size: tuple[int, int] | None = None) -> None:
        """Show pixmap, drawn at logical_size (a small preview fills the final image's area)."""
        width, height = logical_size or (pixmap.width(), pixmap.height())
        self.placeholder.setVisible(False)
        self.item.setPixmap(pixmap)
        self.item.setScale(width / pixmap.width() if pixmap.width() else 1.0)
        resized = (width, height) != self.image_size
        self.image_size = (width, height)
        self._scene.setSceneRect(QRectF(0, 0, width, height))
        if self.fit_mode or resized:
            self.fit()

    def clear(self) -> None:
        """Show nothing."""
        self.item.setPixmap(QPixmap())
        self.image_size = (0, 0)

    def fit(self) -> None:
        """Scale so the whole image is visible."""
        self.fit_mode = True
        if self.image_size[0] and self.image_size[1]:
            self.fitInView(self._scene.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
            self.zoom_changed.emit(self.zoom())

    def actual_size(self) -> None:
        """Show one image pixel per screen pixel."""
        self.fit_mode = False
        self.resetTransform()
        self.zoom_changed.emit(1.0)

    def zoom_by(self, factor: float) -> None:
        """Zoom in (factor > 1) or out, within MIN_ZOOM..MAX_ZOOM."""
        factor = max(MIN_ZOOM / self.zoom(), min(MAX_ZOOM / self.zoom(), factor))
        self.fit_mode = False
        self.scale(factor, factor)
        self.zoom_changed.emit(self.zoom())

    def wheelEvent(self, event: QWheelEvent) -> None:
        """Wheel zooms about the mouse position."""
        delta = event.angleDelta().y()
        if delta:
            self.zoom_by(ZOOM_STEP ** (delta / 120))
        event.accept()

    def resizeEvent(self, event: object) -> None:
        """Keep fitting while in fit mode."""
        super().resizeEvent(event)
        if self.fit_mode:
            self.fit()


class LiveView(QWidget):
    """Step x/y with time left, a preview per step, then the finished image."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.status = QLabel("Ready")
        self.status.setObjectName("liveStatus")
        self.progress = QProgressBar()
        self.progress.setObjectName("liveProgress")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("%v/%m")
        self.view = ImageView()
        self.fit_button = QToolButton()
        self.fit_button.setText("Fit")
        self.fit_button.setToolTip("Show the whole image")
        self.fit_button.clicked.connect(self.view.fit)
        self.actual_button = QToolButton()
        self.actual_button.setText("100%")
        self.actual_button.setToolTip("One image pixel per screen pixel")
        self.actual_button.clicked.connect(self.view.actual_size)
        self.zoom_label = QLabel()
        self.view.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        self.view.set_placeholder("Your image appears here.\nWrite a prompt, pick a size and press Generate.")

        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.zoom_label)
        top.addWidget(self.fit_button)
        top.addWidget(self.actual_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        layout.addWidget(self.view, 1)
        self.progress.hide()
        self.target_size: tuple[int, int] | None = None
        self.pixmap: QPixmap | None = None

    def start(self, title: str, target: tuple[int, int], steps: int) -> None:
        """A job began: reset progress for its target size."""
        self.target_size = target
        self.status.setText(f"{title} · starting…")
        self.progress.setRange(0, max(1, steps))
        self.progress.setValue(0)
        self.progress.show()

    def show_step(self, image_index: int, count: int, step: int, total: int, eta_s: float,
                  preview: QImage | None, phase: str = "denoise", stage: str = "") -> None:
        """One step done: progress text (with the stage of a refined image: "Composing 1/2 · ") and
        the preview."""
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(step)
        self.progress.show()
        which = f"Image {image_index + 1}/{count} · " if count > 1 else ""
        which += f"{stage[:1].upper()}{stage[1:]} · " if stage and phase != "decode" else ""
        eta = format_eta(eta_s)
        what = "Decoding tile" if phase == "decode" else "Step"
        self.status.setText(f"{which}{what} {step}/{total}" + (f" · {eta}" if eta else ""))
        if preview is not None and not preview.isNull():
            size = self.target_size or (preview.width(), preview.height())
            self._show(QPixmap.fromImage(preview), size)

    def show_image(self, image: QImage, caption: str = "") -> None:
        """A finished image at full resolution."""
        self.progress.hide()
        self.status.setText(caption or f"Done · {image.width()}×{image.height()}")
        self._show(QPixmap.fromImage(image), (image.width(), image.height()))

    def show_message(self, text: str) -> None:
        """A line instead of progress (cancelled, failed)."""
        self.progress.hide()
        self.status.setText(text)

    def _show(self, pixmap: QPixmap, size: tuple[int, int]) -> None:
        self.pixmap = pixmap
        self.view.set_pixmap(pixmap, size)

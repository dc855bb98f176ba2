"""The job queue as a list: state and progress per job, move up/down, cancel, clear finished.

May import: PySide6, app.jobs.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.jobs import Job, JobQueue, JobState

STATE_TEXT = {
    JobState.queued: "Waiting",
    JobState.running: "Generating",
    JobState.done: "Done",
    JobState.cancelled: "Cancelled",
    JobState.failed: "Failed",
}


class ElidedLabel(QLabel):
    """A one-line label that shortens its text with … to the width it gets, instead of widening its row."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:
        """Keep the whole text; show what fits."""
        self._full = text
        self._elide()

    def text(self) -> str:
        """The whole text (not the shortened one drawn)."""
        return self._full

    def resizeEvent(self, event: Any) -> None:
        """Re-shorten for the new width."""
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(0, self.width()))
        super().setText(shown)

    def minimumSizeHint(self) -> QSize:
        """As narrow as a few letters."""
        return QSize(self.fontMetrics().horizontalAdvance("Mmm…"), super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:
        """Modest: the row takes its width from the list, not from the text."""
        return QSize(self.fontMetrics().horizontalAdvance("M" * 12), super().sizeHint().height())


class JobRow(QWidget):
    """One job: title, state, progress, and ↑ ↓ ✕ buttons."""

    def __init__(self, job: Job, queue: JobQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job = job
        self.queue = queue
        self.title = ElidedLabel(job.title)
        self.title.setToolTip(job.request.prompt)
        self.state = QLabel()
        self.state.setObjectName("jobState")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(6)
        self.up = self._button("▲", "Run earlier", lambda: queue.move_up(job.id))
        self.down = self._button("▼", "Run later", lambda: queue.move_down(job.id))
        self.cancel = self._button("✕", "Cancel this job (Esc cancels the running one)", lambda: queue.cancel(job.id))
        self.cancel.setObjectName("cancelJob")

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.title, 1)
        top.addWidget(self.state)
        for button in (self.up, self.down, self.cancel):
            top.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        self.update_job()

    def _button(self, text: str, tip: str, slot: object) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.clicked.connect(slot)
        return button

    def update_job(self) -> None:
        """Show the job's current state and progress."""
        job = self.job
        text = STATE_TEXT[job.state]
        if job.state is JobState.running and job.total:
            text = f"{job.step}/{job.total}"
            if job.request.count > 1:
                text = f"image {job.image_index + 1}/{job.request.count} · {text}"
        elif job.state is JobState.failed:
            self.state.setToolTip(job.error)
        self.state.setText(text)
        self.progress.setValue(int(job.progress * 1000))
        self.progress.setVisible(job.state is JobState.running)
        queued = job.state is JobState.queued
        self.up.setVisible(queued)
        self.down.setVisible(queued)
        self.cancel.setVisible(not job.state.is_finished)


class QueueView(QWidget):
    """Lists the queue's jobs in run order and keeps them up to date from its signals."""

    job_selected = Signal(object)

    def __init__(self, queue: JobQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.list = QListWidget()
        self.list.setObjectName("queueList")
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # rows fit the width
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.empty = QLabel("No jobs yet.\nWrite a prompt and press Generate (Ctrl+Enter):\nyour jobs line up here.")
        self.empty.setObjectName("queueEmpty")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.empty.setFrameShape(QFrame.Shape.StyledPanel)  # stands in for the list, framed like it
        self.empty.setBackgroundRole(QPalette.ColorRole.Base)
        self.empty.setAutoFillBackground(True)
        self.clear_button = QPushButton("Clear finished")
        self.clear_button.clicked.connect(queue.clear_finished)
        self.summary = QLabel()
        bottom = QHBoxLayout()
        bottom.addWidget(self.summary, 1)
        bottom.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.empty, 1)
        layout.addWidget(self.list, 1)
        layout.addLayout(bottom)

        queue.job_added.connect(lambda _job: self.rebuild())
        queue.job_removed.connect(lambda _job: self.rebuild())
        queue.order_changed.connect(self.rebuild)
        for signal in (queue.job_started, queue.job_progress, queue.job_finished):
            signal.connect(self.update_job)
        queue.count_changed.connect(self._update_summary)
        self.list.currentItemChanged.connect(self._current_changed)
        self.rebuild()

    def rows(self) -> list[JobRow]:
        """The row widgets in run order."""
        return [self.list.itemWidget(self.list.item(i)) for i in range(self.list.count())]

    def row_for(self, job_id: str) -> JobRow | None:
        """The row showing a job."""
        return next((row for row in self.rows() if row.job.id == job_id), None)

    def rebuild(self) -> None:
        """Recreate the rows in the queue's order (jobs are few; this is cheap)."""
        current = self.list.currentItem()
        current_id = current.data(Qt.ItemDataRole.UserRole) if current else None
        self.list.clear()
        for job in self.queue:
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, job.id)
            row = JobRow(job, self.queue)
            item.setSizeHint(row.sizeHint())
            self.list.addItem(item)
            self.list.setItemWidget(item, row)
            if job.id == current_id:
                self.list.setCurrentItem(item)
        self._update_summary()

    def update_job(self, job: Job) -> None:
        """Refresh one job's row."""
        row = self.row_for(job.id)
        if row is not None:
            row.update_job()

    def _update_summary(self) -> None:
        waiting = self.queue.count(JobState.queued)
        running = self.queue.count(JobState.running)
        self.summary.setText(f"{running} running · {waiting} waiting" if running or waiting else "Idle")
        empty = len(self.queue) == 0
        self.empty.setVisible(empty)
        self.list.setVisible(not empty)
        self.clear_button.setEnabled(any(job.state.is_finished for job in self.queue))

    def _current_changed(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if item is not None:
            job = self.queue.find(item.data(Qt.ItemDataRole.UserRole))
            if job is not None:
                self.job_selected.emit(job)

"""The studio window: prompt, size and settings on the left, live view in the middle, queue and gallery
on the right; menus, status bar, drag and drop, and an inline banner for anything that went wrong.

The window is given its gallery store, settings and JobRunner by the composition root
(app.bootstrap.build_window); it never makes them and never touches the engine. A click on Generate
goes `generate` -> `JobRunner.submit` (docs/DESIGN.md, "The path of one request").

May import: PySide6, ui/ widgets, and app/ modules that hold no engine (jobs, presets, sizes,
settings, paths, gallery types); never torch or model/.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app import paths
from app.jobs import Job, JobRequest, JobState
from app.metadata import hires_settings
from app.presets import Preset, PresetError, default_presets, load_presets, save_preset
from app.sizes import SizeError
from app.worker import JobRunner, Output
from ui.banner import Banner
from ui.batch_import import add_import_batch_action
from ui.dnd import DropHandlerMixin, DropPayload, classify_paths
from ui.export_dialog import ExportDialog
from ui.gallery import GalleryPanel
from ui.live_view import LiveView
from ui.model_manager import ModelManagerDialog
from ui.model_status import ModelStatus
from ui.queue_view import QueueView
from ui.settings_dialog import SettingsDialog
from ui.side_panel import SidePanel
from ui.tasks import run_task
from ui.theme import apply_theme

log = logging.getLogger(__name__)

APP_TITLE = "Sigma Studio"


class MainWindow(DropHandlerMixin, QMainWindow):
    """The studio's main window; it drives a JobRunner and never touches the engine itself."""

    def __init__(self, gallery: Any, settings: Any, runner: JobRunner, history: Any,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.gallery = gallery
        self.history = history
        self.runner = runner
        self.runner.setParent(self)
        self.queue = self.runner.queue
        self.model_info: dict | None = None
        self.last_error = ""
        self._closing = False
        self._stopped_cleanly = True
        self._dialogs: list[QWidget] = []
        self._active_preset: str | None = None

        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self.resize(1440, 900)
        self._build_widgets()
        self._build_actions()
        self._build_menus()
        self._build_status_bar()
        self._connect()
        self._restore_settings()
        for warning in (getattr(self.settings, "load_warning", None), getattr(self.history, "load_warning", None),
                        getattr(self.gallery, "notice", None)):
            if warning:
                self.banner.show_message(warning, "info")

    # ------------------------------------------------------------ construction

    def _build_widgets(self) -> None:
        side = SidePanel(self.history)
        self.side_panel = side
        self.editor, self.size_picker, self.gen_settings = side.editor, side.size_picker, side.gen_settings
        self.generate_button, self.cancel_button, self.preset_list = (
            side.generate_button, side.cancel_button, side.preset_list)
        scroll = side

        self.banner = Banner()
        self.live_view = LiveView()
        center = QWidget()
        center_layout = QVBoxLayout(center)
        center_layout.setContentsMargins(4, 4, 4, 4)
        center_layout.addWidget(self.banner)
        center_layout.addWidget(self.live_view, 1)

        self.queue_view = QueueView(self.queue)
        self.gallery_panel = GalleryPanel(self.gallery)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.queue_view, "Queue")
        self.tabs.addTab(self.gallery_panel, "Gallery")

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(center)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 0)
        for index in range(splitter.count()):
            splitter.setCollapsible(index, False)  # a panel dragged to nothing looks like a broken window
        self.tabs.setMinimumWidth(300)
        center.setMinimumWidth(320)
        splitter.setSizes([max(420, scroll.minimumWidth()), 640, 400])  # two thumbnail columns on the right
        self.splitter = splitter
        self.setCentralWidget(splitter)

    def _action(self, text: str, slot: Any, shortcut: Any = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            keys = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(k) for k in keys])
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.generate_action = self._action(
            "Generate", self.generate, ["Ctrl+Return", "Ctrl+Enter"], "Queue the prompt with these settings"
        )
        self.cancel_action = self._action("Cancel generation", self.cancel_running, "Esc", "Stop the running job")
        self.import_action = self._action("Import presets…", self.import_presets_dialog, None,
                                          "Add preset files (.preset.json) to the preset list")
        self.import_images_action = self._action("Import images…", self.import_images_dialog, None,
                                                 "Copy images (PNG, JPEG, WebP) into the gallery with their settings")
        self.export_action = self._action("Export selected…", self.export_selected, "Ctrl+E",
                                          "Export the images selected in the gallery")
        self.poster_action = self._action("Make a poster…", self.gallery_panel.poster_selected, "Ctrl+P",
                                          "Put a title over the image selected in the gallery; export PDF or images")
        self.settings_action = self._action("Settings…", self.open_settings, "Ctrl+,")
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.quit_action = self._action("Quit", self.close, QKeySequence.StandardKey.Quit)
        self.quit_action.setShortcuts([QKeySequence("Ctrl+Q")])
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.model_manager_action = self._action("Model manager…", self.open_model_manager, None,
                                                 "Download, add or choose the model")
        self.about_action = self._action("About Sigma Studio", self.show_about)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.import_action)
        file_menu.addAction(self.import_images_action)
        add_import_batch_action(self, file_menu)
        file_menu.addAction(self.export_action)
        file_menu.addAction(self.poster_action)
        file_menu.addSeparator()
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        generate_menu = bar.addMenu("&Generate")
        generate_menu.addAction(self.generate_action)
        generate_menu.addAction(self.cancel_action)
        models_menu = bar.addMenu("&Models")
        models_menu.addAction(self.model_manager_action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.about_action)

    def _build_status_bar(self) -> None:
        self.model_status = ModelStatus(self.statusBar(), self.open_model_manager)
        self.statusBar().messageChanged.connect(self._status_tooltip)  # see show_status
        self.model_label = self.model_status.model_label
        self.device_label = self.model_status.device_label

    def _connect(self) -> None:
        self.generate_button.clicked.connect(self.generate)
        self.cancel_button.clicked.connect(self.cancel_running)
        self.editor.submitted.connect(self.generate)
        self.editor.count_requested.connect(self.runner.count_tokens)
        self.preset_list.preset_activated.connect(self.apply_preset)
        runner = self.runner
        runner.model_loading.connect(self.on_model_loading)
        runner.model_loaded.connect(self.on_model_loaded)
        runner.model_failed.connect(self.on_model_failed)
        runner.preview_ready.connect(self.on_preview)
        runner.job_outputs.connect(self.on_job_outputs)
        runner.tokens_counted.connect(self.editor.set_exact_count)
        self.queue.job_started.connect(self.on_job_started)
        self.queue.job_finished.connect(self.on_job_finished)
        self.queue.count_changed.connect(self._update_buttons)
        panel = self.gallery_panel
        panel.use_settings.connect(self.apply_params)
        self.side_panel.vocabulary.example_chosen.connect(lambda text: self.editor.set_prompt(text))
        panel.export_requested.connect(self.open_export)
        panel.poster_requested.connect(self.open_poster)
        panel.status_message.connect(self.show_status)

    def _restore_settings(self) -> None:
        settings = self.settings
        self.gen_settings.set_values(
            steps=settings.steps, guidance=settings.guidance, kv_compress=settings.kv_compress,
            memory=settings.memory_mode,
        )
        if not self.size_picker.set_size_text(settings.last_size):
            self.size_picker.select_preset("4K UHD")
        presets = []
        try:
            presets = default_presets()
        except (PresetError, OSError) as exc:
            self.show_status(f"Default presets could not be read: {exc}")
        presets += self._user_presets()
        self.preset_list.set_presets(presets)

    def _user_presets(self) -> list[Preset]:
        """Presets the user imported before (config/presets)."""
        found: list[Preset] = []
        for path in sorted(paths.user_presets_dir().glob("*.preset.json")):
            try:
                found += load_presets(path)
            except PresetError as exc:
                self.show_status(str(exc))
        return found

    # ------------------------------------------------------------ lifecycle

    def start(self, source: str | None = None, base: str | None = None) -> None:
        """Start the engine thread and load a model (default: the configured one, else the demo)."""
        self.runner.load_model(source if source is not None else self.settings.default_model, base)

    def shutdown(self) -> bool:
        """Stop the engine thread (cancelling any generation) and close the gallery view."""
        if self._closing:
            return self._stopped_cleanly
        self._closing = True
        self._stopped_cleanly = self.runner.stop()
        self.gallery_panel.shutdown()
        return self._stopped_cleanly

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing mid-generation cancels it and waits for the engine thread to end."""
        self.shutdown()
        event.accept()
        super().closeEvent(event)

    # ------------------------------------------------------------ generating

    def build_request(self) -> tuple[JobRequest, Any]:
        """The request and size plan for what the widgets show (SizeError when the size is unusable)."""
        plan = self.size_picker.plan()
        values = self.gen_settings.values()
        request = JobRequest(
            prompt=self.editor.final_prompt(),
            negative=self.editor.negative_text(),
            width=plan.target[0],
            height=plan.target[1],
            dpi=plan.dpi,
            style=self.editor.style(),
            preset=self._active_preset,
            **values,
        )
        return request, plan

    def generate(self) -> Job | None:
        """Queue a job from the current prompt and settings."""
        if not self.editor.prompt_text().strip():
            self.banner.show_message("Write a prompt first: describe the image you want.", "info")
            self.editor.prompt.setFocus()
            return None
        try:
            request, plan = self.build_request()
        except SizeError as exc:
            self.banner.show_message(f"The size cannot be used: {exc}", "error")
            return None
        job = self.runner.submit(request, plan)
        self.editor.remember()
        self._remember_settings()
        waiting = self.queue.count(JobState.queued)
        if self.runner.model_info is None:
            self.show_status("Queued: it starts once the model is loaded")
        elif waiting > 1 or self.queue.running() is not job:
            self.show_status(f"Queued ({waiting} waiting)")
        return job

    def cancel_running(self) -> bool:
        """Cancel the job being generated (Esc)."""
        if self.runner.cancel_running():
            self.live_view.show_message("Cancelling after this step…")
            return True
        return False

    def _remember_settings(self) -> None:
        values = self.gen_settings.values()
        settings = self.settings
        settings.steps, settings.guidance = values["steps"], values["guidance"]
        settings.kv_compress = values["kv_compress"]
        settings.last_size = self.size_picker.size_text()
        try:
            settings.save()
        except OSError as exc:
            self.show_status(f"Settings could not be saved: {exc}")

    # ------------------------------------------------------------ runner reports

    def on_model_loading(self, message: str) -> None:
        """JobRunner.model_loading: say what is being loaded."""
        self.model_status.show_loading(message)
        self.show_status(message)

    def on_model_loaded(self, info: dict) -> None:
        """JobRunner.model_loaded: show the model, take its own defaults, count the prompt's tokens."""
        self.model_info = info
        name = info.get("name") or info.get("source") or "model"
        self.model_status.show_loaded(info)
        self.side_panel.vocabulary.show_for(info.get("understands"))
        defaults = {k: v for k, v in (info.get("defaults") or {}).items() if k in ("steps", "guidance")}
        if defaults:
            # a model that was trained for other settings (the demo: guidance 2.0) starts from them
            self.gen_settings.set_values(**defaults)
            said = ", ".join(f"{k} {v:g}" for k, v in defaults.items())
            self.show_status(f"Loaded {name} — using its defaults: {said}")
        else:
            self.show_status(f"Loaded {name}")
        if self.banner.property("model_error"):
            self.banner.hide()
            self.banner.setProperty("model_error", False)
        self.runner.count_tokens(self.editor.final_prompt())

    def on_model_failed(self, message: str) -> None:
        """JobRunner.model_failed: the banner says why, with a button to the model manager."""
        self.model_info = None
        self.side_panel.vocabulary.show_for(None)
        self.last_error = message
        self.model_status.show_failed()
        self.show_status("The model could not be loaded")
        self.banner.show_message(message, "error", "Model manager…", self.open_model_manager)
        self.banner.setProperty("model_error", True)

    def on_job_started(self, job: Job) -> None:
        self.live_view.start(job.title, (job.request.width, job.request.height), job.request.steps)
        self._update_buttons()

    def on_preview(self, job_id: str, index: int, step: int, total: int, eta: float, preview: Any,
                       phase: str, stage: str = "") -> None:
        job = self.queue.find(job_id)
        if job is None or job.state is not JobState.running:
            return
        self.live_view.show_step(index, job.request.count, step, total, eta, preview, phase, stage)

    def on_job_outputs(self, job_id: str, outputs: list[Output]) -> None:
        for output in outputs:
            if output.record is not None:
                self.gallery_panel.add_record(output.record)
        if outputs:
            last = outputs[-1]
            self.gen_settings.set_last_seed(last.seed)
            where = f" · saved to {last.path.name}" if last.path else ""
            self.live_view.show_image(last.image, f"Done · {last.image.width()}×{last.image.height()} · "
                                                  f"seed {last.seed}{where}")

    def on_job_finished(self, job: Job) -> None:
        self._update_buttons()
        if job.state is JobState.done:
            count = len(job.record_ids) or len(job.seeds)
            notes = f" ({'; '.join(job.notes)})" if job.notes else ""
            self.show_status(f"Saved {count} image{'s' if count != 1 else ''} to the gallery{notes}")
        elif job.state is JobState.cancelled:
            if self.queue.running() is None:
                self.live_view.show_message("Cancelled")
            self.show_status(f"Cancelled: {job.title}")
        elif job.state is JobState.failed:
            self.last_error = job.error
            self.live_view.show_message("Failed")
            self.banner.show_message(f"Generation failed: {job.error}", "error",
                                     "Model manager…" if "model" in job.error.lower() else "", self.open_model_manager)

    def _update_buttons(self) -> None:
        self.cancel_button.setEnabled(self.queue.running() is not None)

    def show_status(self, text: str, timeout_ms: int = 8000) -> None:
        """A message in the status bar; the whole of it in the bar's tooltip, as a long one (a job's
        notes) is cut off at the bar's width. The tooltip goes with the message."""
        self.statusBar().showMessage(text, timeout_ms)  # messageChanged sets the tooltip

    def _status_tooltip(self, message: str) -> None:
        self.statusBar().setToolTip(message)

    # ------------------------------------------------------------ presets and settings from images

    def apply_preset(self, preset: Preset) -> None:
        """Fill prompt, style, size and settings from a preset."""
        self.editor.set_prompt(preset.prompt, preset.negative)
        self.editor.set_style(preset.style)
        if preset.size and not self.size_picker.set_size_text(preset.size):
            self.show_status(f"Preset {preset.name!r}: size {preset.size!r} is not usable; size unchanged")
        self.gen_settings.set_values(**preset.settings())
        self._active_preset = preset.name
        self.show_status(f"Preset applied: {preset.name}")

    def apply_params(self, params: dict) -> None:
        """Fill prompt and settings from an image's saved parameters (ours or A1111)."""
        if "prompt" in params:
            self.editor.set_prompt(str(params.get("prompt") or ""), str(params.get("negative") or ""))
            self.editor.set_style(None)  # a saved prompt already holds its style's words
        width, height = params.get("width"), params.get("height")
        if isinstance(width, int) and isinstance(height, int):
            if not self.size_picker.set_size_text(f"{width}x{height}"):
                self.show_status(f"Size {width}×{height} is out of range; size unchanged")
        elif isinstance(params.get("size"), str):
            self.size_picker.set_size_text(params["size"])
        self.gen_settings.set_values(
            steps=params.get("steps"), guidance=params.get("guidance"), seed=params.get("seed"),
            kv_compress=params.get("kv_compress"), tileable=params.get("tileable") or "off", **hires_settings(params),
        )
        self._active_preset = None
        self.show_status("Settings restored from the image")

    def import_preset_files(self, files: list[str | Path]) -> tuple[list[Preset], list[str]]:
        """Load preset files, keep copies in the user presets folder and list them; returns (presets, errors)."""
        presets: list[Preset] = []
        errors: list[str] = []
        for file in files:
            try:
                presets += load_presets(file)
            except PresetError as exc:
                errors.append(str(exc))
        self._keep_presets(presets, errors)
        return presets, errors

    def _keep_presets(self, presets: list[Preset], errors: list[str]) -> None:
        folder = paths.user_presets_dir()
        for preset in presets:
            try:
                save_preset(preset, folder)
            except (PresetError, OSError) as exc:
                errors.append(f"{preset.name}: not kept for next time ({exc})")
            self.preset_list.add_preset(preset, select=True)

    def import_presets_dialog(self) -> None:
        """File ▸ Import presets…"""
        files, _ = QFileDialog.getOpenFileNames(
            self, "Import presets", str(Path.home()), "Presets (*.preset.json *.json);;All files (*)"
        )
        if not files:
            return
        presets, errors = self.import_preset_files(files)
        if presets:
            self.show_status(f"Imported {len(presets)} preset(s): double-click one to apply it")
        if errors:
            self.banner.show_message("Some presets were not imported: " + "; ".join(errors), "error")

    def open_file(self, path: str | Path) -> None:
        """`sigma-studio FILE`: load a preset file or restore an image's settings, as a drop would."""
        path = Path(path).expanduser()
        if not path.is_file():
            self.banner.show_message(f"Cannot open {path}: there is no such file.", "error")
            return
        self.handle_drop(classify_paths([path]))

    def import_images_dialog(self) -> None:
        """File ▸ Import images…: copy images into the gallery with the settings they carry."""
        files, _ = QFileDialog.getOpenFileNames(
            self, "Import images", str(Path.home()), "Images (*.png *.jpg *.jpeg *.webp);;All files (*)"
        )
        if files:
            self.import_images(files)

    def import_images(self, files: list[str | Path]) -> Any:
        """Copy images into the gallery off the UI thread; the grid and status bar say what came in."""
        self.show_status(f"Importing {len(files)} image(s)…", 0)
        return run_task(lambda _ctx: self.gallery.import_images(files), on_result=self._images_imported,
                        on_error=lambda exc: self.banner.show_message(f"Import failed: {exc}", "error"), owner=self)

    def _images_imported(self, result: tuple[list, list[str]]) -> None:
        records, errors = result
        self.gallery_panel.refresh()
        self.show_status(f"Imported {len(records)} image(s) into the gallery")
        if errors:
            self.banner.show_message("Some images were not imported: " + "; ".join(errors), "error")

    def handle_drop(self, payload: DropPayload) -> None:
        """Dropped presets are imported and the first applied; dropped images restore their settings."""
        if payload.presets:
            errors = list(payload.errors)
            self._keep_presets(payload.presets, errors)
            self.apply_preset(payload.presets[0])
            self.show_status(payload.message())
            if errors:
                self.banner.show_message("; ".join(errors), "info")
            return
        if payload.params is not None:
            self.apply_params(payload.params)
            self.show_status(payload.message())
            return
        message = payload.message()
        self.show_status(message)
        self.banner.show_message(f"Nothing was changed: {message}", "info")

    # ------------------------------------------------------------ dialogs

    def _keep_dialog(self, dialog: QWidget) -> QWidget:
        self._dialogs = [d for d in self._dialogs if d.isVisible()] + [dialog]
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        return dialog

    def export_selected(self) -> None:
        """File ▸ Export selected…: the images selected in the gallery."""
        selected = self.gallery_panel.selected_records()
        if not selected:
            self.tabs.setCurrentWidget(self.gallery_panel)
            self.show_status("Select images in the Gallery tab first, then press Ctrl+E")
            return
        self.open_export(selected)

    def open_export(self, records: list) -> QWidget | None:
        """Open the export dialog for these gallery records."""
        dialog = self._keep_dialog(ExportDialog(records, self.settings, self))
        dialog.refine_requested.connect(self.queue_refines)
        dialog.open()
        return dialog

    def open_poster(self, record: Any) -> QWidget | None:
        """The poster panel for a gallery record; a poster kept with it opens editable again."""
        from ui.poster_panel import open_poster_panel  # on demand: keeps the window's start light

        return open_poster_panel(self, record, self.gallery, self._keep_dialog, self.gallery_panel.refresh, self.banner)

    def queue_refines(self, jobs: list) -> list[Job]:
        """Export dialog's "refine to each size": one queued job per (request, size plan)."""
        queued = [self.runner.submit(request, plan) for request, plan in jobs]
        self.show_status(f"Queued {len(queued)} refine job{'s' if len(queued) != 1 else ''}")
        return queued

    def open_settings(self) -> QWidget:
        """File ▸ Settings…"""
        dialog = SettingsDialog(self.settings, self)
        dialog.settings_saved.connect(self._settings_saved)
        dialog.model_manager_requested.connect(self.open_model_manager)
        self._keep_dialog(dialog)
        dialog.open()
        return dialog

    def _settings_saved(self, changed: dict) -> None:
        if "theme" in changed:
            app = QApplication.instance()
            if isinstance(app, QApplication):
                apply_theme(app, changed["theme"])
        if "memory_mode" in changed:
            self.gen_settings.set_values(memory=changed["memory_mode"])
        if {"device", "memory_mode"} & changed.keys():
            self.runner.configure(self.settings.device, self.settings.memory_mode)
        if "default_model" in changed:
            self.start()
        elif {"device", "memory_mode"} & changed.keys() and self.model_info:
            self.start(self.model_info.get("source"))  # reload what is loaded, placed the new way
        self.show_status("Settings saved")

    def open_model_manager(self) -> QWidget | None:
        """Models ▸ Model manager…"""
        dialog = ModelManagerDialog(self.settings, self)
        dialog.model_chosen.connect(self.use_model)
        self._keep_dialog(dialog)
        dialog.open()
        return dialog

    def use_model(self, source: str) -> None:
        """Make source the default model and load it."""
        self.settings.default_model = source or None
        try:
            self.settings.save()
        except OSError as exc:
            self.show_status(f"Settings could not be saved: {exc}")
        self.start(source or None)

    def show_about(self) -> QMessageBox:
        """Help ▸ About."""
        box = QMessageBox(self)
        box.setWindowTitle("About Sigma Studio")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(
            "<b>Sigma Studio</b><br>Posters and wallpapers up to 4K on your own machine with "
            "PixArt-Σ.<br><br>Images and their settings are kept in your gallery; nothing leaves this computer."
        )
        box.setIcon(QMessageBox.Icon.Information)
        self._keep_dialog(box)
        box.open()
        return box

"""The installer's decisions and the files it writes, without installing anything (packaging/, app/preflight)."""

from __future__ import annotations

import plistlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "packaging"))

import installer  # noqa: E402
import platform_integration as integration  # noqa: E402

from app import preflight  # noqa: E402


# -- which torch build ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("system", "nvidia", "force", "requirement", "index", "label"),
    [
        ("Linux", False, "auto", "torch==2.13.0+cpu", installer.TORCH_CPU_INDEX, "CPU"),
        ("Linux", True, "auto", "torch==2.13.0", None, "CUDA"),
        ("Linux", True, "cpu", "torch==2.13.0+cpu", installer.TORCH_CPU_INDEX, "CPU"),
        ("Linux", False, "cuda", "torch==2.13.0", None, "CUDA"),
        ("Windows", False, "auto", "torch==2.13.0", None, "CPU"),
        ("Windows", True, "auto", "torch==2.13.0", installer.TORCH_CUDA_INDEX, "CUDA"),
        ("Darwin", False, "auto", "torch==2.13.0", None, "default"),
        ("Darwin", True, "cuda", "torch==2.13.0", None, "default"),
    ],
)
def test_torch_build_fits_the_machine(system, nvidia, force, requirement, index, label):
    choice = installer.choose_torch(system, nvidia, force)
    assert (choice.requirement, choice.fallback_index) == (requirement, index)
    assert label in choice.label


def test_no_cuda_download_without_an_nvidia_gpu():
    """A CPU machine never asks for the plain Linux torch (PyPI's multi-GB CUDA build)."""
    for system in ("Linux",):
        choice = installer.choose_torch(system, nvidia=False)
        assert choice.requirement.endswith("+cpu")


def test_nvidia_detection_reads_nvidia_smi(tmp_path, monkeypatch):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H200 (UUID: GPU-1)'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert installer.has_nvidia_gpu() or Path("/proc/driver/nvidia/version").is_file()
    smi.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2; exit 9\n")
    assert installer.has_nvidia_gpu() == Path("/proc/driver/nvidia/version").is_file()
    monkeypatch.setenv("PATH", str(tmp_path / "none"))
    assert installer.has_nvidia_gpu() == Path("/proc/driver/nvidia/version").is_file()


def test_locks_exist_for_every_platform_and_pin_exact_versions():
    for system in ("Linux", "Windows", "Darwin"):
        lock = ROOT / "packaging" / "locks" / installer.lock_name(system)
        pins = [line for line in lock.read_text().splitlines() if line and not line.startswith("#")]
        assert pins and all("==" in line for line in pins), lock
        names = {line.split("==")[0].lower() for line in pins}
        assert {"torch", "diffusers", "transformers", "pyside6", "pillow"} <= names
    test_lock = (ROOT / "packaging" / "locks" / "linux-test.txt").read_text()
    assert "pytest==" in test_lock and "pytest-qt==" in test_lock


def test_ci_installs_from_the_lock():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "-c packaging/locks/linux-test.txt" in ci and "torch==2.13.0" in ci


# -- where things go -------------------------------------------------------------------------------
def test_layout_honours_xdg_data_home(tmp_path):
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "d"), "XDG_CONFIG_HOME": str(tmp_path / "c")}
    layout = installer.Layout.from_env(env, "Linux")
    assert layout.app_dir == tmp_path / "d" / "sigma-studio"
    assert layout.bin_dir == tmp_path / ".local" / "bin"
    assert layout.user_folders()[0] == tmp_path / "d" / "SigmaStudio"
    default = installer.Layout.from_env({"HOME": str(tmp_path), "XDG_DATA_HOME": "relative/ignored"}, "Linux")
    assert default.app_dir == tmp_path / ".local" / "share" / "sigma-studio"


def test_desktop_entry_quotes_paths_and_names_the_preset_type():
    entry = integration.desktop_entry(Path("/home/a b/.local/bin/sigma-studio"))
    assert 'Exec="/home/a b/.local/bin/sigma-studio" %f' in entry
    assert f"MimeType={integration.MIME_TYPE};" in entry and "Icon=sigma-studio" in entry
    plain = integration.desktop_entry(Path("/home/ab/.local/bin/sigma-studio"))
    assert "Exec=/home/ab/.local/bin/sigma-studio %f" in plain


def test_mime_package_beats_plain_json():
    xml = integration.mime_package()
    assert 'glob pattern="*.preset.json" weight="60"' in xml and 'sub-class-of type="application/json"' in xml


def test_default_app_entry_keeps_the_users_other_lines(tmp_path):
    mimeapps = tmp_path / "mimeapps.list"
    mimeapps.write_text("[Added Associations]\ntext/plain=gedit.desktop;\n\n[Default Applications]\n"
                        "image/png=eog.desktop;\n")
    integration.set_default_app(mimeapps)
    integration.set_default_app(mimeapps)  # twice: still one line
    text = mimeapps.read_text()
    assert text.count(integration.MIME_TYPE) == 1 and "image/png=eog.desktop;" in text
    assert "text/plain=gedit.desktop;" in text
    integration.set_default_app(mimeapps, remove=True)
    assert integration.MIME_TYPE not in mimeapps.read_text() and "image/png=eog.desktop;" in mimeapps.read_text()
    fresh = tmp_path / "new" / "mimeapps.list"
    integration.set_default_app(fresh)
    assert fresh.read_text() == f"[Default Applications]\n{integration.MIME_TYPE}=sigma-studio.desktop;\n"
    integration.set_default_app(fresh, remove=True)
    assert not fresh.exists()


# -- Windows and macOS: what would be written ------------------------------------------------------
def test_windows_entries_open_presets_with_the_app():
    entries = integration.windows_registry_entries('"C:\\x\\pythonw.exe" -m main "%1"', Path("C:/x/s.ico"))
    assert entries[r"Software\Classes\SigmaStudio.Preset\shell\open\command"].endswith('"%1"')
    assert r"Software\Classes\.json\OpenWithProgids\SigmaStudio.Preset" in entries
    command = integration.shortcut_command(Path("C:/S/Sigma Studio.lnk"), Path("C:/it's/pythonw.exe"), Path("i.ico"))
    assert "CreateShortcut('C:/S/Sigma Studio.lnk')" in command and "'C:/it''s/pythonw.exe'" in command


def test_macos_bundle_is_written_with_its_plist(tmp_path):
    layout = installer.Layout.from_env({"HOME": str(tmp_path)}, "Darwin")
    created: list[Path] = []
    written = integration.integrate(layout, layout.app_dir, layout.app_dir / "env-1", ROOT / "resources", created)
    bundle = tmp_path / "Applications" / "Sigma Studio.app"
    assert bundle in written and bundle in created
    info = plistlib.loads((bundle / "Contents" / "Info.plist").read_bytes())
    assert info["CFBundleExecutable"] == "sigma-studio"
    assert "public.json" in info["CFBundleDocumentTypes"][0]["LSItemContentTypes"]
    executable = bundle / "Contents" / "MacOS" / "sigma-studio"
    assert executable.stat().st_mode & 0o111 and str(layout.bin_dir / "sigma-studio") in executable.read_text()
    assert (bundle / "Contents" / "Resources" / "sigma-studio.icns").stat().st_size > 1000


def test_failed_python_check_says_what_to_install():
    with pytest.raises(installer.InstallError, match="needs Python 3.11 or newer; this is 3.9.2.*apt install"):
        installer.check_python((3, 9, 2))


# -- start-up checks ---------------------------------------------------------------------------------
def test_old_python_is_named():
    problem = preflight.python_problem((3, 10, 4))
    assert problem and "3.10.4" in problem.what and "3.11" in problem.what
    assert preflight.python_problem((3, 11, 0)) is None


@pytest.mark.parametrize(
    ("env", "fails"),
    [
        ({}, True),
        ({"DISPLAY": ":0"}, False),
        ({"WAYLAND_DISPLAY": "wayland-0"}, False),
        ({"QT_QPA_PLATFORM": "offscreen"}, False),
        ({"QT_QPA_PLATFORM": "wayland"}, True),
        ({"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "wayland-0"}, True),
    ],
)
def test_no_display_is_found_before_qt_starts(env, fails):
    problem = preflight.display_problem(env, system="linux")
    assert (problem is not None) == fails
    if problem:
        assert "no display" in problem.what and "generate" in problem.todo
    assert preflight.display_problem({}, system="win32") is None


def test_missing_qt_libraries_are_named_as_packages(tmp_path):
    # A fault injected through ldd: the loader reports two of Qt's xcb libraries as missing.
    ldd = tmp_path / "ldd"
    ldd.write_text("#!/bin/sh\necho '\tlibxcb-cursor.so.0 => not found'\necho '\tlibc.so.6 => /lib/libc.so.6 (0x1)'\n"
                   "echo '\tlibxcb-icccm.so.4 => not found'\necho '\tlibxcb-cursor.so.0 => not found'\n")
    ldd.chmod(0o755)
    missing = preflight.missing_libraries(Path("/any/libqxcb.so"), ldd=str(ldd))
    assert missing == ["libxcb-cursor.so.0", "libxcb-icccm.so.4"]
    problem = preflight.qt_libraries_problem(missing)
    assert "sudo apt install libxcb-cursor0 libxcb-icccm4" in problem.todo
    assert "sudo dnf install xcb-util-cursor xcb-util-wm" in problem.todo
    assert preflight.qt_libraries_problem([]) is None


def test_real_xcb_plugin_check_runs():
    plugin = preflight.xcb_plugin()
    assert plugin is not None and plugin.name == "libqxcb.so"
    for name in preflight.missing_libraries(plugin):  # whatever this machine lacks is named
        assert name.startswith("lib")


def test_damaged_installation_is_reported(tmp_path):
    assert preflight.installation_problem() is None  # this checkout is whole
    problem = preflight.installation_problem(modules=("PIL", "no_such_module_xyz"))
    assert problem and "no_such_module_xyz is not installed" in problem.what and "installer" in problem.todo
    demo = tmp_path / "demo"
    (demo / "transformer").mkdir(parents=True)
    (demo / "model_index.json").write_text("{}")
    problem = preflight.installation_problem(modules=(), demo_dir=demo)
    assert problem and "demo model is incomplete" in problem.what and "vae/config.json" in problem.what


def test_studio_start_stops_with_a_message_without_a_display():
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = ""
    done = subprocess.run([sys.executable, str(ROOT / "main.py")], env=env, capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 2
    assert "no display was found" in done.stderr and "Traceback" not in done.stderr


def test_windows_carry_the_app_icon_and_desktop_entry(qapp):
    from app.bootstrap import set_app_identity

    set_app_identity(qapp)
    sizes = {size.width() for size in qapp.windowIcon().availableSizes()}
    assert {16, 48, 256, 512} <= sizes
    assert qapp.desktopFileName() == "sigma-studio"

"""The Linux install cycle under a temporary HOME: build the artifacts, install from the tarball,
generate with the installed CLI from another folder, upgrade, fail an upgrade, uninstall.

The installs use --inherit-site-packages (the test environment's libraries, no downloads); the
dependency download path is exercised by packaging/linux/smoke.sh.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "DIST_DIR": str(out), "SIGMA_NO_BUILD_ISOLATION": "1", "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(ROOT / "packaging" / "linux" / "build.sh")], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return out


def wheel_of(dist: Path) -> Path:
    return next(dist.glob("sigma_studio-*.whl"))


def user(tmp_path: Path) -> dict[str, str]:
    """A fresh user: empty HOME, XDG folders inside it, no SIGMA_STUDIO_HOME."""
    home = tmp_path / "fresh-user"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "SIGMA_STUDIO"))}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "config"),
               XDG_CACHE_HOME=str(home / "cache"), SIGMA_PYTHON=sys.executable)
    return env


def unpack(dist: Path, where: Path) -> Path:
    with tarfile.open(next(dist.glob("sigma-studio-*-linux.tar.gz"))) as tar:
        tar.extractall(where, filter="data")
    return next(where.glob("sigma-studio-*-linux"))


def install(folder: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(folder / "install.sh"), "--inherit-site-packages", *extra], env=env,
                          capture_output=True, text=True, timeout=600)


def test_wheel_carries_the_whole_app(dist):
    names = set(zipfile.ZipFile(wheel_of(dist)).namelist())
    tracked = subprocess.run(["git", "ls-files", "resources", "app", "model", "ui", "main.py"], cwd=ROOT,
                             capture_output=True, text=True).stdout.split()
    if not tracked:  # not a git checkout: compare with the folder itself
        tracked = [str(p.relative_to(ROOT)) for p in (ROOT / "resources").rglob("*") if p.is_file()]
    wanted = [name for name in tracked if not name.endswith((".pyc",)) and (ROOT / name).is_file()]
    assert wanted and set(wanted) <= names, sorted(set(wanted) - names)[:10]
    assert "resources/demo_model/transformer/diffusion_pytorch_model.safetensors" in names
    assert "resources/icons/sigma-studio.svg" in names and "resources/presets/neon-city.preset.json" in names
    assert not any(name.startswith("tests/") for name in names)
    tarball = next(dist.glob("sigma-studio-*-linux.tar.gz"))
    members = {Path(m).name for m in tarfile.open(tarball).getnames()}
    assert {"install.sh", "installer.py", "platform_integration.py", "linux-app.txt", wheel_of(dist).name} <= members


def test_install_generate_upgrade_and_uninstall(dist, tmp_path):
    env = user(tmp_path)
    home = Path(env["HOME"])
    data, config = Path(env["XDG_DATA_HOME"]), Path(env["XDG_CONFIG_HOME"])
    folder = unpack(dist, tmp_path / "download")
    done = install(folder, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[6/6]" in done.stdout and "Sigma Studio is installed" in done.stdout

    app_dir = data / "sigma-studio"
    launcher = home / ".local" / "bin" / "sigma-studio"
    desktop = data / "applications" / "sigma-studio.desktop"
    first_env = (app_dir / "current").resolve()
    assert launcher.is_file() and os.access(launcher, os.X_OK) and first_env.is_dir()
    assert f'Exec={launcher} %f' in desktop.read_text()
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True, text=True)
        assert check.returncode == 0 and not check.stdout.strip(), check.stdout
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        assert (data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "sigma-studio.png").is_file()
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / "sigma-studio.svg").is_file()
    assert "*.preset.json" in (data / "mime" / "packages" / "sigma-studio.xml").read_text()
    assert "application/x-sigma-studio-preset=sigma-studio.desktop;" in (config / "mimeapps.list").read_text()
    assert os.access(app_dir / "uninstall.sh", os.X_OK)

    # The installed app runs from its own folder, not from this checkout, and generates anywhere.
    where = subprocess.run([str(first_env / "bin" / "python"), "-c", "import app, resources; print(app.__file__)"],
                           env=env, capture_output=True, text=True, cwd=tmp_path)
    assert where.stdout.strip().startswith(str(first_env))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    made = subprocess.run([str(launcher), "generate", "a teal poster with orange circles", "--size", "256x256",
                           "--steps", "2", "--seed", "1", "--out", "poster.png"], env=env, cwd=elsewhere,
                          capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr[-2000:]
    assert (elsewhere / "poster.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The user's gallery lives apart from the app; an upgrade keeps it and drops the old environment.
    gallery = data / "SigmaStudio" / "gallery"
    gallery.mkdir(parents=True)
    (gallery / "gallery.sqlite3").write_bytes(b"the user's gallery")
    again = install(folder, env)
    assert again.returncode == 0, again.stderr
    second_env = (app_dir / "current").resolve()
    assert second_env != first_env and not first_env.exists()
    assert (gallery / "gallery.sqlite3").read_bytes() == b"the user's gallery"

    # A failed upgrade changes nothing: the install before it still works.
    broken = tmp_path / "sigma_studio-9.9.9-py3-none-any.whl"
    broken.write_bytes(b"not a wheel")
    failed = install(folder, env, "--wheel", str(broken))
    assert failed.returncode == 1 and "Install failed" in failed.stderr and "Nothing was changed" in failed.stderr
    assert (app_dir / "current").resolve() == second_env
    assert sorted(p.name for p in app_dir.glob("env-*")) == [second_env.name]
    assert subprocess.run([str(launcher), "models"], env=env, capture_output=True, timeout=300).returncode == 0

    removed = subprocess.run(["sh", str(app_dir / "uninstall.sh")], env=env, capture_output=True, text=True)
    assert removed.returncode == 0, removed.stderr
    assert "Sigma Studio was removed" in removed.stdout and str(data / "SigmaStudio") in removed.stdout
    assert not app_dir.exists() and not launcher.exists() and not desktop.exists()
    assert not (data / "icons").exists() and not (data / "mime").exists()
    assert "sigma-studio" not in ((config / "mimeapps.list").read_text() if (config / "mimeapps.list").exists() else "")
    assert (gallery / "gallery.sqlite3").read_bytes() == b"the user's gallery"


def test_failed_first_install_leaves_nothing(dist, tmp_path):
    env = user(tmp_path)
    broken = tmp_path / "sigma_studio-0.0.1-py3-none-any.whl"
    broken.write_bytes(b"PK\x03\x04 truncated")
    done = install(unpack(dist, tmp_path / "download"), env, "--wheel", str(broken))
    assert done.returncode == 1 and "Install failed" in done.stderr
    home = Path(env["HOME"])
    assert not (Path(env["XDG_DATA_HOME"]) / "sigma-studio").exists()
    assert not (home / ".local" / "bin" / "sigma-studio").exists()
    assert not (Path(env["XDG_DATA_HOME"]) / "applications").exists()

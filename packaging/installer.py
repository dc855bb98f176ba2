"""Sigma Studio's per-user installer and uninstaller (Linux, Windows, macOS). Standard library only.

It runs with the machine's own Python before any of the app's dependencies exist, so it imports
nothing but the standard library (and `platform_integration` beside it). One install is:

  1. check the Python (3.11+, with venv);
  2. create a private environment `env-<stamp>` under the app folder;
  3. install the torch build that fits the machine (CUDA with an NVIDIA GPU, CPU otherwise, the
     default build on macOS), through the machine's own pip configuration (index, find-links,
     certificates, proxy), falling back to PyTorch's CPU index only when that finds no CPU build;
  4. install the app's wheel with the platform's dependency lock as constraints;
  5. run the app's own installation check in the new environment;
  6. add the launcher, menu entry, icons, file association and uninstaller, then switch the
     `current` link to the new environment and remove the old one.

A failure in any step removes what this run created and leaves an earlier install as it was.
The user's gallery, settings and models live elsewhere (platformdirs' SigmaStudio folders) and
are never touched, by an upgrade or by the uninstaller.

    python3 packaging/installer.py install [--wheel PATH] [--locks DIR] [--torch auto|cpu|cuda|default]
    python3 packaging/installer.py uninstall
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import platform_integration as integration  # noqa: E402  (beside this file, also once installed)

MIN_PYTHON = (3, 11)
APP_ID = "sigma-studio"
TORCH_VERSION = "2.13.0"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_CUDA_INDEX = "https://download.pytorch.org/whl/cu130"  # Windows only: PyPI's Windows torch is CPU
MANIFEST = "install-manifest.json"
CURRENT = "current"


class InstallError(RuntimeError):
    """A step failed; the message says which and what to do."""


@dataclass(frozen=True)
class TorchChoice:
    """The torch build to install: pip requirement, index to try if the configured ones lack it."""

    requirement: str
    fallback_index: str | None
    label: str


@dataclass
class Layout:
    """Where an install puts things, from the environment (XDG on Linux)."""

    system: str
    home: Path
    data_home: Path
    config_home: Path
    cache_home: Path
    bin_dir: Path

    @property
    def app_dir(self) -> Path:
        return self.data_home / APP_ID

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, system: str | None = None) -> Layout:
        env = dict(os.environ if env is None else env)
        system = system or platform.system()
        home = Path(env.get("HOME") or Path.home())
        if system == "Windows":
            local = Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local")
            return cls(system, home, local, Path(env.get("APPDATA") or home / "AppData" / "Roaming"),
                       local, local / APP_ID / "bin")
        if system == "Darwin":
            support = home / "Library" / "Application Support"
            return cls(system, home, support, home / "Library" / "Preferences", home / "Library" / "Caches",
                       home / ".local" / "bin")
        return cls(system, home, _xdg(env, "XDG_DATA_HOME", home / ".local" / "share"),
                   _xdg(env, "XDG_CONFIG_HOME", home / ".config"), _xdg(env, "XDG_CACHE_HOME", home / ".cache"),
                   home / ".local" / "bin")

    def user_folders(self) -> list[Path]:
        """The folders of the user's own data (gallery, settings, caches): kept by every step here."""
        name = "SigmaStudio"
        return [self.data_home / name, self.config_home / name, self.cache_home / name]


def _xdg(env: dict[str, str], var: str, default: Path) -> Path:
    value = env.get(var, "").strip()
    return Path(value) if value and os.path.isabs(value) else default


def has_nvidia_gpu(run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> bool:
    """True when an NVIDIA driver answers (nvidia-smi lists a GPU, or the kernel module reports)."""
    if Path("/proc/driver/nvidia/version").is_file():
        return True
    exe = shutil.which("nvidia-smi")
    if not exe:
        return False
    try:
        done = run([exe, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and "GPU" in (done.stdout or "")


def choose_torch(system: str, nvidia: bool, force: str = "auto") -> TorchChoice:
    """The torch build for this machine: never a multi-GB CUDA download where no NVIDIA GPU is."""
    want = force if force != "auto" else ("default" if system == "Darwin" else "cuda" if nvidia else "cpu")
    if want == "default" or system == "Darwin":
        return TorchChoice(f"torch=={TORCH_VERSION}", None, "default build (Apple Metal on macOS)")
    if want == "cuda":
        index = TORCH_CUDA_INDEX if system == "Windows" else None  # PyPI's Linux torch is the CUDA build
        return TorchChoice(f"torch=={TORCH_VERSION}", index, "CUDA build (NVIDIA GPU found)")
    if system == "Windows":  # PyPI's Windows torch is the CPU build
        return TorchChoice(f"torch=={TORCH_VERSION}", None, "CPU build (no NVIDIA GPU found)")
    return TorchChoice(f"torch=={TORCH_VERSION}+cpu", TORCH_CPU_INDEX, "CPU build (no NVIDIA GPU found)")


def lock_name(system: str) -> str:
    return {"Windows": "windows", "Darwin": "macos"}.get(system, "linux") + "-app.txt"


def env_python(env_dir: Path, system: str) -> Path:
    return env_dir / ("Scripts/python.exe" if system == "Windows" else "bin/python")


@dataclass
class Installer:
    """One install or uninstall run; `say` prints progress, `run` runs a command (both replaceable)."""

    layout: Layout
    wheel: Path | None = None
    locks: Path | None = None
    torch: str = "auto"
    inherit_site_packages: bool = False  # reuse the running Python's packages (tests, offline dev)
    say: Callable[[str], None] = print
    created: list[Path] = field(default_factory=list)
    steps: int = 6

    def step(self, number: int, text: str) -> None:
        self.say(f"[{number}/{self.steps}] {text}")

    def run(self, args: Sequence[str], what: str) -> None:
        """Run a command with the user's environment (pip reads its own configuration from it)."""
        try:
            done = subprocess.run([str(a) for a in args], check=False)
        except OSError as exc:
            raise InstallError(f"{what}: {exc}") from exc
        if done.returncode != 0:
            raise InstallError(f"{what} (exit code {done.returncode}; pip's own message is above)")

    # -- install ---------------------------------------------------------------------------------
    def install(self) -> Path:
        """The whole install; returns the app folder. Raises InstallError with nothing left behind."""
        check_python()
        if self.wheel is None or not self.wheel.is_file():
            raise InstallError(f"the app's wheel was not found ({self.wheel}); run packaging/linux/build.sh first")
        app_dir = self.layout.app_dir
        app_dir.mkdir(parents=True, exist_ok=True)
        env_dir = app_dir / f"env-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        try:
            self._provision(env_dir)
            self.step(5, "Checking the new installation")
            self.run([env_python(env_dir, self.layout.system), "-m", "app.preflight", "--install-check"],
                     "the installed app failed its own check")
            self.step(6, "Adding the launcher, menu entry, icons and file association")
            self._integrate(env_dir)
        except BaseException:
            self._roll_back(env_dir)
            raise
        return app_dir

    def _provision(self, env_dir: Path) -> None:
        system = self.layout.system
        self.step(1, f"Creating the app's environment in {env_dir}")
        self.created.append(env_dir)
        self.run([sys.executable, "-m", "venv", env_dir], "creating the environment failed (Debian/Ubuntu: "
                 "sudo apt install python3-venv; Fedora: sudo dnf install python3)")
        python = env_python(env_dir, system)
        if self.inherit_site_packages:
            self.step(2, "Using the packages of the Python that runs this installer")
            link_site_packages(python)
            self.step(3, "Installing Sigma Studio (no downloads)")
            self.run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", self.wheel],
                     "installing the app failed")
            self.step(4, "App installed")
            return
        choice = choose_torch(system, has_nvidia_gpu() if self.torch == "auto" else False, self.torch)
        self.step(2, f"Installing PyTorch {TORCH_VERSION}, {choice.label}")
        self._install_torch(python, choice)
        lock = (self.locks or Path(__file__).resolve().parent / "locks") / lock_name(system)
        constraints = ["-c", lock] if lock.is_file() else []
        if not constraints:
            self.say(f"  note: no dependency lock at {lock}; using the newest compatible versions")
        self.step(3, "Installing Sigma Studio and its libraries")
        self.run([python, "-m", "pip", "install", "--progress-bar", "on", *constraints, self.wheel],
                 "installing the app's libraries failed")
        self.step(4, "Libraries installed")

    def _install_torch(self, python: Path, choice: TorchChoice) -> None:
        base = [python, "-m", "pip", "install", "--progress-bar", "on", choice.requirement]
        index = os.environ.get("SIGMA_TORCH_INDEX") or None
        if index:
            self.run([*base, "--extra-index-url", index], f"installing {choice.requirement} from {index} failed")
            return
        try:  # the user's own configuration first: a mirror or a wheel folder may already hold it
            self.run(base, f"installing {choice.requirement} failed")
        except InstallError:
            if not choice.fallback_index:
                raise
            self.say(f"  not found through your pip configuration; trying {choice.fallback_index}")
            self.run([*base, "--extra-index-url", choice.fallback_index],
                     f"installing {choice.requirement} failed (also from {choice.fallback_index})")

    def _integrate(self, env_dir: Path) -> None:
        app_dir = self.layout.app_dir
        resources = installed_resources(env_python(env_dir, self.layout.system))
        here = Path(__file__).resolve().parent
        for name in ("installer.py", "platform_integration.py"):
            shutil.copy2(here / name, app_dir / name)
        written = integration.integrate(self.layout, app_dir, env_dir, resources, self.created)
        old = current_env(app_dir)
        switch_current(app_dir, env_dir)
        manifest = {"app_dir": str(app_dir), "env": env_dir.name, "files": [str(p) for p in written],
                    "mime_default": integration.MIME_TYPE, "installed": time.strftime("%Y-%m-%d %H:%M:%S")}
        write_json_atomic(app_dir / MANIFEST, manifest)
        self.created.clear()  # committed: nothing to roll back from here on
        if old and old != env_dir and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)

    def _roll_back(self, env_dir: Path) -> None:
        for path in reversed(self.created):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists() or path.is_symlink():
                path.unlink(missing_ok=True)
        self.created.clear()
        app_dir = self.layout.app_dir
        if app_dir.is_dir() and not any(app_dir.iterdir()):
            app_dir.rmdir()

    # -- uninstall -------------------------------------------------------------------------------
    def uninstall(self) -> list[Path]:
        """Remove what the install added; keep the user's gallery, settings and models. Returns them."""
        app_dir = self.layout.app_dir
        manifest = read_manifest(app_dir)
        for name in manifest.get("files", []):
            path = Path(name)
            if path.is_file() or path.is_symlink():
                path.unlink(missing_ok=True)
            elif path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            prune_empty_parents(path.parent, stop=(self.layout.data_home, self.layout.home))
        integration.unregister(self.layout)
        shutil.rmtree(app_dir, ignore_errors=True)
        kept = [folder for folder in self.layout.user_folders() if folder.exists()]
        self.say("Sigma Studio was removed.")
        if kept:
            self.say("Your gallery, settings and models are kept in:")
            for folder in kept:
                self.say(f"  {folder}")
            self.say("Delete those folders yourself to remove them too.")
        return kept


def check_python(version: tuple[int, ...] | None = None) -> None:
    version = tuple(version or sys.version_info[:3])
    if version[:2] < MIN_PYTHON:
        raise InstallError(
            f"Sigma Studio needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer; this is "
            f"{'.'.join(map(str, version))}. Install a newer Python (Debian/Ubuntu: sudo apt install "
            "python3.11 python3.11-venv; Fedora: sudo dnf install python3.11) and run the installer with it.")
    try:
        import ensurepip  # noqa: F401
        import venv  # noqa: F401
    except ImportError as exc:
        raise InstallError("this Python has no 'venv' module with pip (Debian/Ubuntu: sudo apt install "
                           "python3-venv)") from exc


def link_site_packages(python: Path) -> None:
    """Make the new environment see the running Python's packages (a .pth file, no copies)."""
    import sysconfig

    target = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            capture_output=True, text=True, check=True).stdout.strip()
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(target, "_sigma_studio_parent.pth").write_text("\n".join(sorted(paths)) + "\n", encoding="utf-8")


def installed_resources(python: Path) -> Path:
    """The installed app's resources folder (icons come from there), asked of the new environment."""
    done = subprocess.run([str(python), "-c", "import resources; print(resources.root())"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise InstallError(f"the installed app's files were not found: {done.stderr.strip()[-300:]}")
    return Path(done.stdout.strip())


def current_env(app_dir: Path) -> Path | None:
    link = app_dir / CURRENT
    return link.resolve() if link.is_symlink() or link.exists() else None


def switch_current(app_dir: Path, env_dir: Path) -> None:
    """Point app_dir/current at env_dir in one rename (a symlink; a small file on Windows)."""
    tmp = app_dir / f".{CURRENT}.tmp"
    tmp.unlink(missing_ok=True)
    if os.name == "nt":
        (app_dir / "current.txt").write_text(env_dir.name, encoding="utf-8")
        return
    tmp.symlink_to(env_dir.name, target_is_directory=True)
    os.replace(tmp, app_dir / CURRENT)


def prune_empty_parents(folder: Path, stop: Sequence[Path]) -> None:
    """Remove folder and its parents while they are empty, never at or above a `stop` folder."""
    stops = {p.resolve() for p in stop}
    folder = folder.resolve()
    while folder not in stops and not any(folder == s or folder in s.parents for s in stops) and folder.is_dir():
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (something of the user's or another app's is there)
        folder = folder.parent


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def read_manifest(app_dir: Path) -> dict:
    try:
        data = json.loads((app_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="installer.py", description="Install Sigma Studio for this user.")
    sub = parser.add_subparsers(dest="command", required=True)
    install = sub.add_parser("install", help="install or upgrade (keeps the gallery)")
    install.add_argument("--wheel", type=Path, help="the app's wheel (default: the newest in dist/ or here)")
    install.add_argument("--locks", type=Path, help="folder of dependency locks (default: locks/ beside this file)")
    install.add_argument("--torch", choices=("auto", "cpu", "cuda", "default"), default="auto",
                         help="which torch build (default: auto, CUDA only where an NVIDIA GPU is found)")
    install.add_argument("--inherit-site-packages", action="store_true",
                         help="reuse this Python's installed packages instead of downloading (tests)")
    uninstall = sub.add_parser("uninstall", help="remove the app; keep the gallery, settings and models")
    uninstall.add_argument("--app-dir", type=Path, help="the installed app folder (default: from XDG_DATA_HOME)")
    return parser.parse_args(list(argv))


def find_wheel(start: Path) -> Path | None:
    for folder in (start, start.parent / "dist", start.parents[1] / "dist" if len(start.parents) > 1 else start):
        wheels = sorted(folder.glob("sigma_studio-*.whl"), key=lambda p: p.stat().st_mtime)
        if wheels:
            return wheels[-1]
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    layout = Layout.from_env()
    here = Path(__file__).resolve().parent
    if args.command == "uninstall":
        if args.app_dir:
            layout.data_home = args.app_dir.resolve().parent
        Installer(layout).uninstall()
        return 0
    installer = Installer(layout, wheel=args.wheel or find_wheel(here), locks=args.locks, torch=args.torch,
                          inherit_site_packages=args.inherit_site_packages)
    started = time.perf_counter()
    try:
        app_dir = installer.install()
    except InstallError as exc:
        print(f"\nInstall failed: {exc}\nNothing was changed; an earlier install, if any, still works.",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInstall cancelled; nothing was changed.", file=sys.stderr)
        return 130
    print(f"\nSigma Studio is installed in {app_dir} ({time.perf_counter() - started:.0f} s).")
    print(integration.how_to_start(layout))
    return 0


if __name__ == "__main__":
    sys.exit(main())

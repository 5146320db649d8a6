"""Build the installable Blender extension: ``python build_addon.py`` → ``dist/distill3d-<version>.zip``.

The zip holds the add-on (``blender_addon/``), the ``protocol`` package vendored next to it, and
pyzmq + msgpack wheels for Python 3.11 and 3.13 on Linux, Windows and macOS (x86-64 and arm64),
fetched with ``pip download`` at the versions pinned in ``constraints.txt`` (cached in
``.cache/addon-wheels``). No torch, no numpy: Blender ships numpy, and torch never enters Blender.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
ADDON = ROOT / "blender_addon"
PACKAGES = ("pyzmq", "msgpack")
"""Third-party packages the add-on needs besides what Blender ships."""
PYTHONS = ("3.11", "3.13")
"""Blender 4.2–4.4 embed Python 3.11, Blender 4.5+ and 5.x Python 3.13 (bpy 5.0.1 as a module runs on 3.11)."""
PLATFORMS = {
    "linux-x64": "manylinux_2_28_x86_64",
    "linux-arm64": "manylinux_2_28_aarch64",
    "windows-x64": "win_amd64",
    "windows-arm64": "win_arm64",
    "macos-x64": "macosx_11_0_x86_64",
    "macos-arm64": "macosx_11_0_arm64",
}
"""Blender platform name → the pip platform tag its wheels are fetched for."""


def pinned_versions(constraints: Path = ROOT / "constraints.txt") -> dict[str, str]:
    """``{package: version}`` for :data:`PACKAGES`, from the constraints file the backend is tested with."""
    pins = {}
    for line in constraints.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;#]+)", line.strip())
        if match and match.group(1).lower() in PACKAGES:
            pins[match.group(1).lower()] = match.group(2)
    missing = set(PACKAGES) - set(pins)
    if missing:
        raise SystemExit(f"{constraints} pins none of: {', '.join(sorted(missing))}")
    return pins


def fetch_wheels(cache: Path, pins: dict[str, str]) -> list[Path]:
    """Download (or reuse from ``cache``) every wheel for every Python × platform; the sorted, de-duplicated list."""
    cache.mkdir(parents=True, exist_ok=True)
    requirements = [f"{name}=={version}" for name, version in pins.items()]
    for python in PYTHONS:
        for platform in PLATFORMS.values():
            command = [
                sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                "--python-version", python, "--platform", platform, "--dest", str(cache), *requirements,
            ]  # fmt: skip
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                raise SystemExit(f"pip could not fetch {', '.join(requirements)} for Python {python} on {platform}:\n{result.stderr.strip()}")
    wanted = {f"{name.replace('-', '_')}-{version}-" for name, version in pins.items()}
    return sorted(path for path in cache.glob("*.whl") if any(path.name.lower().startswith(prefix.lower()) for prefix in wanted))


def manifest_text(wheels: list[Path]) -> str:
    """The add-on's manifest with the ``wheels`` list appended; checked to parse."""
    text = (ADDON / "blender_manifest.toml").read_text(encoding="utf-8")
    listing = "".join(f'  "./wheels/{wheel.name}",\n' for wheel in wheels)
    head, _, permissions = text.partition("[permissions]")
    text = f"{head.rstrip()}\n\nwheels = [\n{listing}]\n\n[permissions]{permissions}"
    tomllib.loads(text)
    return text


def python_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*.py") if "__pycache__" not in path.parts)


def build(out_dir: Path = ROOT / "dist", cache: Path = ROOT / ".cache" / "addon-wheels") -> Path:
    """Write the extension zip and return its path."""
    manifest = manifest_text(wheels := fetch_wheels(cache, pinned_versions()))
    version = tomllib.loads(manifest)["version"]
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"distill3d-{version}.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("blender_manifest.toml", manifest)
        for path in python_files(ADDON):
            archive.write(path, path.relative_to(ADDON).as_posix())
        for path in python_files(ROOT / "protocol"):
            archive.write(path, ("protocol" / path.relative_to(ROOT / "protocol")).as_posix())
        for wheel in wheels:
            archive.write(wheel, f"wheels/{wheel.name}", compress_type=zipfile.ZIP_STORED)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="folder for the zip (default: dist/)")
    parser.add_argument("--wheel-cache", type=Path, default=ROOT / ".cache" / "addon-wheels", help="where downloaded wheels are kept")
    args = parser.parse_args(argv)
    print(build(args.out, args.wheel_cache))
    return 0


if __name__ == "__main__":
    sys.exit(main())

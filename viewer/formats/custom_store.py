"""Where custom formats live: one TOML file per format in the user's config folder.

The folder is `<platformdirs user config>/formats` (e.g. ~/.config/caseline/formats on Linux),
or `$CASELINE_CONFIG_DIR/formats` when that variable is set (tests, portable installs). Files
are re-read only when the folder or a file in it changed, so asking for the formats once per
sniffed file stays cheap. A broken file never hides the others: it is reported beside them.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from viewer.formats.base import FormatSpec
from viewer.formats.custom import PREFIX, CustomFormat, CustomFormatError, from_toml, to_toml

CONFIG_ENV = "CASELINE_CONFIG_DIR"
SUFFIX = ".toml"


def config_dir() -> Path:
    override = os.environ.get(CONFIG_ENV)
    return Path(override) if override else Path(platformdirs.user_config_dir("caseline", appauthor=False))


def formats_dir() -> Path:
    return config_dir() / "formats"


@dataclass(frozen=True)
class Loaded:
    directory: Path
    definitions: dict[str, tuple[Path, CustomFormat, FormatSpec]]  # by spec name (custom:NAME)
    errors: tuple[CustomFormatError, ...]

    @property
    def specs(self) -> list[FormatSpec]:
        return [spec for _, _, spec in self.definitions.values()]


_Signature = tuple[str, tuple[tuple[str, int, int], ...]]  # folder, (file name, mtime, size)...
# A file edited in place does not touch the folder's mtime: files are re-checked this often.
RECHECK_SECONDS = 2.0


@dataclass
class _Cache:
    signature: _Signature
    folder_mtime: int | None
    checked_at: float
    loaded: Loaded


_lock = threading.Lock()
_cache: _Cache | None = None


def _folder_mtime(directory: Path) -> int | None:
    try:
        return directory.stat().st_mtime_ns
    except OSError:
        return None


def _signature(directory: Path) -> _Signature:
    entries = []
    try:
        for e in os.scandir(directory):
            if e.name.endswith(SUFFIX) and e.is_file():
                st = e.stat()
                entries.append((e.name, st.st_mtime_ns, st.st_size))
    except OSError:
        pass
    return (str(directory), tuple(sorted(entries)))


def invalidate() -> None:
    global _cache
    with _lock:
        _cache = None


def load_all() -> Loaded:
    """Every custom format of the config folder, compiled; problems collected, never raised.

    Called once per sniffed file: a folder unchanged since the last look costs one stat.
    """
    global _cache
    directory = formats_dir()
    folder_mtime = _folder_mtime(directory)
    now = time.monotonic()
    with _lock:
        c = _cache
        if (
            c is not None
            and c.signature[0] == str(directory)
            and c.folder_mtime == folder_mtime
            and now - c.checked_at < RECHECK_SECONDS
        ):
            return c.loaded
    sig = _signature(directory)
    with _lock:
        if _cache is not None and _cache.signature == sig:
            _cache.checked_at, _cache.folder_mtime = now, folder_mtime
            return _cache.loaded
    loaded = _load(directory, sig)
    with _lock:
        _cache = _Cache(sig, folder_mtime, now, loaded)
    return loaded


def _load(directory: Path, sig: _Signature) -> Loaded:
    definitions: dict[str, tuple[Path, CustomFormat, FormatSpec]] = {}
    errors: list[CustomFormatError] = []
    for name, _mtime, _size in sig[1]:
        path = directory / name
        try:
            fmt = from_toml(path.read_text(encoding="utf-8"), path)
            if path.stem != fmt.name:
                raise CustomFormatError(
                    f"{path}: name = {fmt.name!r} must match the file name {path.stem!r}", path
                )
            definitions[fmt.spec_name] = (path, fmt, fmt.compile())
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(CustomFormatError(f"{path}: cannot read: {exc}", path))
        except CustomFormatError as exc:
            errors.append(exc)
        except ValueError as exc:  # compile() re-validates; kept for safety of detection
            errors.append(CustomFormatError(f"{path}: {exc}", path))
    return Loaded(directory, definitions, tuple(errors))


def get(spec_name: str) -> FormatSpec:
    """The compiled custom format `custom:NAME`; CustomFormatError says why it is not usable."""
    loaded = load_all()
    if spec_name in loaded.definitions:
        return loaded.definitions[spec_name][2]
    name = spec_name.removeprefix(PREFIX)
    for err in loaded.errors:
        if err.path is not None and err.path.stem == name:
            raise err
    known = ", ".join(sorted(loaded.definitions)) or "none yet"
    raise CustomFormatError(f"no custom format {name!r} in {loaded.directory} (custom formats: {known})")


def definition(spec_name: str) -> CustomFormat:
    get(spec_name)
    return load_all().definitions[spec_name][1]


def path_of(name: str) -> Path:
    return formats_dir() / f"{name.removeprefix(PREFIX)}{SUFFIX}"


def save(fmt: CustomFormat, overwrite: bool = False) -> Path:
    """Write `fmt` (validated) atomically; FileExistsError unless `overwrite`."""
    fmt.validate()
    path = path_of(fmt.name)
    if path.exists() and not overwrite:
        raise FileExistsError(f"a custom format named {fmt.name!r} exists already ({path})")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(to_toml(fmt), encoding="utf-8")
    os.replace(tmp, path)  # readers never see half a file
    invalidate()
    return path


def delete(name: str) -> None:
    path_of(name).unlink()
    invalidate()

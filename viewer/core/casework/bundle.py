"""Evidence bundles: the case file, its report and a manifest of SHA-256 sums, in one zip.

The manifest is in `sha256sum` format (`<hex>  <name>`), so a recipient without Caseline can run
`sha256sum -c MANIFEST.sha256` after unzipping. `verify` checks a bundle without extracting it
and reports each problem precisely (changed, missing or extra member, a path that would escape
the target folder, a link); `open_bundle` extracts a verified bundle into a new or empty folder,
never overwriting anything, and returns the case path for read-only (auditor) opening.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import stat
import zipfile
from pathlib import Path, PurePosixPath

from viewer import __version__
from viewer.core.case_file import CaseError, CaseFile, os_user
from viewer.core.casework.findings import Finding, IntegrityResult
from viewer.core.casework.report import build_html

MANIFEST = "MANIFEST.sha256"
INFO = "bundle.json"
REPORT = "report.html"
_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")
_BLOCK = 4 * 1024 * 1024


class BundleError(CaseError):
    """A bundle cannot be written or opened; the message says why."""


def write(case: CaseFile, out_zip: str | os.PathLike[str], *, report_html: str | None = None) -> Path:
    """Write the bundle; refuses to replace an existing file. Returns the bundle path."""
    out = Path(out_zip)
    if out.exists():
        raise BundleError(f"{out} already exists; bundles are never overwritten")
    html = report_html if report_html is not None else build_html(case)
    # Logged before the copy, so the bundled case itself records that it was bundled, and by whom.
    case.log_activity("bundle_written", {"path": str(out.resolve())})
    if not case.read_only:
        case.cursor().execute("CHECKPOINT")  # fold the write-ahead log into the file being copied
    wal = case.path.with_name(case.path.name + ".wal")
    if wal.exists():
        raise BundleError(
            f"{wal} holds changes not yet in the case file; open the case writable once, then bundle"
        )
    info = {
        "case": case.path.name,
        "source_path": str(case.path.resolve()),
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "os_user": os_user(),
        "tool_version": __version__,
    }
    tmp = out.with_name(out.name + ".partial")
    sums: dict[str, str] = {}
    try:
        with zipfile.ZipFile(tmp, "x", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            sums[case.path.name] = _copy_into(zf, case.path.name, case.path)
            for name, data in ((REPORT, html.encode("utf-8")), (INFO, json.dumps(info, indent=2).encode())):
                zf.writestr(name, data)
                sums[name] = hashlib.sha256(data).hexdigest()
            zf.writestr(MANIFEST, "".join(f"{h}  {n}\n" for n, h in sorted(sums.items())))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _copy_into(zf: zipfile.ZipFile, name: str, src: Path) -> str:
    h = hashlib.sha256()
    with src.open("rb") as fin, zf.open(name, "w", force_zip64=True) as fout:
        while block := fin.read(_BLOCK):
            h.update(block)
            fout.write(block)
    return h.hexdigest()


def _unsafe(name: str) -> str | None:
    """Why a member name must not be extracted, or None."""
    if "\\" in name:
        return "contains a backslash (a Windows path separator)"
    p = PurePosixPath(name)
    if p.is_absolute():
        return "is an absolute path"
    if ".." in p.parts:
        return "climbs out of the target folder with '..'"
    if p.parts and ":" in p.parts[0]:
        return "names a drive"
    if len(p.parts) != 1:
        return "is in a sub-folder; a bundle has only top-level members"
    return None


def verify(zip_path: str | os.PathLike[str]) -> IntegrityResult:
    """Check a bundle without extracting it; `ok` only when the manifest covers exactly the
    members present and every hash matches."""
    path = Path(zip_path)
    result = IntegrityResult("bundle", [], {"bundle": str(path)})
    out = result.findings
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        out.append(
            Finding("bundle", str(path), "unreadable", False, f"{path.name}: not a readable zip: {exc}")
        )
        return result
    with zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        for info in infos:
            why = _unsafe(info.filename)
            if why is None and stat.S_ISLNK(info.external_attr >> 16):
                why = "is a symbolic link"
            if why:
                out.append(
                    Finding(
                        "member",
                        info.filename,
                        "unsafe_path",
                        False,
                        f"{info.filename!r}: REFUSED - the member {why}",
                    )
                )
        for dup in sorted({n for n in names if names.count(n) > 1}):
            out.append(
                Finding(
                    "member", dup, "duplicate", False, f"{dup}: appears {names.count(dup)} times in the zip"
                )
            )
        if MANIFEST not in names:
            out.append(
                Finding(
                    "bundle",
                    MANIFEST,
                    "no_manifest",
                    False,
                    f"{MANIFEST} is missing: nothing can be verified",
                )
            )
            return result
        listed, problems = _parse_manifest(zf.read(MANIFEST).decode("utf-8", "replace"))
        out.extend(problems)
        for name, expected in listed.items():
            out.append(_check_member(zf, names, name, expected))
        for name in names:
            if name != MANIFEST and name not in listed and _unsafe(name) is None:
                out.append(
                    Finding(
                        "member", name, "extra", False, f"{name}: EXTRA - in the zip but not in the manifest"
                    )
                )
        if not any(n not in (MANIFEST, INFO, REPORT) for n in listed):
            out.append(Finding("bundle", str(path), "no_case", False, "the manifest lists no case file"))
    return result


def _parse_manifest(text: str) -> tuple[dict[str, str], list[Finding]]:
    listed: dict[str, str] = {}
    problems: list[Finding] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _LINE.match(line)
        if m is None:
            problems.append(
                Finding(
                    "bundle",
                    MANIFEST,
                    "bad_manifest",
                    False,
                    f"{MANIFEST} line {n} is not '<sha256>  <name>'",
                )
            )
            continue
        listed[m.group(2)] = m.group(1)
    return listed, problems


def _check_member(zf: zipfile.ZipFile, names: list[str], name: str, expected: str) -> Finding:
    if _unsafe(name):
        return Finding("member", name, "unsafe_path", False, f"{name!r}: the manifest lists an unsafe path")
    if name not in names:
        return Finding(
            "member", name, "missing", False, f"{name}: MISSING - listed in the manifest, not in the zip"
        )
    h = hashlib.sha256()
    try:
        with zf.open(name) as fh:
            while block := fh.read(_BLOCK):
                h.update(block)
    except (zipfile.BadZipFile, OSError) as exc:  # e.g. the zip's own CRC check failed
        return Finding("member", name, "unreadable", False, f"{name}: cannot be read: {exc}")
    actual = h.hexdigest()
    if actual != expected:
        return Finding(
            "member",
            name,
            "modified",
            False,
            f"{name}: MODIFIED - SHA-256 {actual}, the manifest has {expected}",
            detail={"expected": expected, "actual": actual},
        )
    return Finding("member", name, "unchanged", True, f"{name}: SHA-256 matches the manifest")


def open_bundle(
    zip_path: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    verified: IntegrityResult | None = None,
) -> Path:
    """Verify, then extract into `dest_dir` (new or empty); returns the case file's path, to be
    opened read-only. Raises BundleError listing every problem when the bundle does not verify.
    `verified`: this bundle's `verify` result when the caller already has it (the app shows it);
    extraction re-hashes every member against the manifest either way."""
    check = verified if verified is not None and verified.kind == "bundle" else verify(zip_path)
    if not check.ok:
        raise BundleError(
            "the bundle does not verify; nothing was extracted:\n"
            + "\n".join(f.message for f in check.failures)
        )
    dest = Path(dest_dir)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BundleError(f"{dest} exists and is not an empty folder; nothing is overwritten")
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path) as zf:
        listed, _ = _parse_manifest(zf.read(MANIFEST).decode("utf-8"))
        for name, expected in listed.items():
            target = dest / name
            h = hashlib.sha256()
            with zf.open(name) as fin, target.open("xb") as fout:  # 'x': never replace a file
                while block := fin.read(_BLOCK):
                    h.update(block)
                    fout.write(block)
            if h.hexdigest() != expected:
                raise BundleError(f"{name} changed while it was extracted (SHA-256 {h.hexdigest()})")
    cases = [n for n in listed if n not in (MANIFEST, INFO, REPORT)]
    info = json.loads((dest / INFO).read_text(encoding="utf-8")) if INFO in listed else {}
    named = str(info.get("case", ""))
    return dest / (named if named in cases else cases[0])

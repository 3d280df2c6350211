"""Safe paths under the artifact root: no traversal (encoded or not), no symlink that leaves the
pipeline's folder, only report-like suffixes."""

from __future__ import annotations

import mimetypes
from pathlib import Path, PurePosixPath

from fastapi import HTTPException, status

from ml.roots import Roots

# suffix -> media type; anything else is refused (examples, models and protos are not reports)
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".pbtxt": "text/plain; charset=utf-8",  # shown in the browser, not downloaded
    ".log": "text/plain; charset=utf-8",
    ".csv": "text/plain; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",  # Data Docs' own fonts
}


def _not_found() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, "no such report")


def clean_parts(rel: str) -> tuple[str, ...]:
    """The path's parts; 400 for anything that could step outside (`..`, absolute, backslash,
    NUL, or still percent-encoded after the server's decoding)."""
    if "%" in rel:  # the server decoded the URL once: a `%` left means double encoding
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "encoded paths are not allowed")
    decoded = rel
    if "\\" in decoded or "\0" in decoded or decoded.startswith("/"):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "bad path")
    parts = tuple(p for p in PurePosixPath(decoded).parts if p not in ("", "."))
    if any(p == ".." or p.startswith("~") for p in parts):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "path traversal is not allowed")
    return parts


def pipeline_root(pipeline: str, roots: Roots | None = None) -> Path:
    return ((roots or Roots.resolve()).artifacts / pipeline).resolve()


def resolve_under(
    base: Path, rel: str, *, want_dir: bool = False, suffixes: frozenset[str] | None = None
) -> Path:
    """`base/rel` resolved (symlinks followed) and still inside `base`, existing, of the right
    kind and (for files) with a known suffix (`suffixes`, default MEDIA_TYPES); else 400/404."""
    base = base.resolve()
    parts = clean_parts(rel)
    target = base.joinpath(*parts).resolve()
    if not target.is_relative_to(base):
        raise _not_found()
    if want_dir:
        if not target.is_dir():
            raise _not_found()
        return target
    if not target.is_file():
        raise _not_found()
    if target.suffix.lower() not in (MEDIA_TYPES if suffixes is None else suffixes):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{target.suffix or 'no suffix'}: not a report type")
    return target


def media_type(path: Path) -> str:
    return MEDIA_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "text/plain"

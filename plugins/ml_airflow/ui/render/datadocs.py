"""Great Expectations Data Docs without a network: CDN URLs -> the ML view's vendored copies.

GE 1.24's page templates load jQuery, Bootstrap, bootstrap-table, Font Awesome, popper and
datepicker from CDNs, vega for charts, and its logo from S3. Known assets are rewritten to
`<static>/vendor/...`; the logo to GE's own copy in its wheel; every other external script or
stylesheet tag is dropped, so that opening a report makes no request outside the API server.
"""

from __future__ import annotations

import re

VENDOR = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/bootstrap.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js/popper.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table/bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table/bootstrap-table.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": (
        "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": (
        "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "fontawesome/css/all.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker/bootstrap-datepicker.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker/bootstrap-datepicker.min.js"
    ),
}
GE_ASSETS = re.compile(
    r"https://great-expectations-web-assets\.s3[.\w-]*\.amazonaws\.com/([\w.-]+?)(\?[^\"')]*)?"
)
_URL_ATTR = re.compile(r"""(?P<attr>\b(?:src|href))=(?P<q>["'])(?P<url>https?://[^"']+)(?P=q)""")
_EXTERNAL_SCRIPT = re.compile(r"""<script\b[^>]*\bsrc=["']https?://[^>]*>\s*</script>""", re.I)
_EXTERNAL_LINK = re.compile(r"""<link\b[^>]*\bhref=["']https?://[^>]*>""", re.I)


def offline_html(html: str, static_url: str) -> str:
    """The page with vendored assets (`static_url` = the ML view's `/..._static` URL)."""
    static_url = static_url.rstrip("/")

    def vendor(match: re.Match[str]) -> str:
        url = match["url"]
        if url in VENDOR:
            return f"{match['attr']}={match['q']}{static_url}/vendor/{VENDOR[url]}{match['q']}"
        if logo := GE_ASSETS.fullmatch(url):
            return f"{match['attr']}={match['q']}{static_url}/ge/images/{logo[1]}{match['q']}"
        return match[0]

    html = _URL_ATTR.sub(vendor, html)
    html = _EXTERNAL_SCRIPT.sub("", html)
    return _EXTERNAL_LINK.sub("", html)


def offline_css(css: str, static_url: str) -> str:
    """GE's own stylesheet points a background image at S3: the wheel's copy instead."""
    return GE_ASSETS.sub(lambda m: f"{static_url.rstrip('/')}/ge/images/{m[1]}", css)

"""The web page's copy of uPlot is the npm package's, byte for byte.

The page is served as a plain directory (client/web), so the library is copied into it
rather than fetched from a CDN. After changing uplot's version in package.json, run
`npm install`, then copy again:
    cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css \\
       node_modules/uplot/LICENSE client/web/vendor/uplot/
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PACKAGE = REPO / "node_modules" / "uplot"
VENDOR = REPO / "client" / "web" / "vendor" / "uplot"
COPIES = {
    "uPlot.iife.min.js": "dist/uPlot.iife.min.js",
    "uPlot.min.css": "dist/uPlot.min.css",
    "LICENSE": "LICENSE",
}


@pytest.fixture
def package() -> Path:
    if not PACKAGE.is_dir():
        pytest.skip("node_modules/uplot is not installed (`npm ci`; `make test` runs it)")
    return PACKAGE


@pytest.mark.parametrize("name", sorted(COPIES))
def test_the_vendored_file_is_the_installed_packages(package: Path, name: str) -> None:
    assert (VENDOR / name).read_bytes() == (package / COPIES[name]).read_bytes(), (
        f"client/web/vendor/uplot/{name} differs from node_modules/uplot/{COPIES[name]}: "
        "copy it again (see this test's docstring)"
    )


def test_the_lock_file_pins_the_installed_version(package: Path) -> None:
    lock = json.loads((REPO / "package-lock.json").read_text())
    installed = json.loads((package / "package.json").read_text())["version"]
    assert lock["packages"]["node_modules/uplot"]["version"] == installed


def test_the_page_loads_only_its_own_copy() -> None:
    html = (REPO / "client" / "web" / "index.html").read_text()
    assert 'src="vendor/uplot/uPlot.iife.min.js"' in html
    linked = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert linked and not [u for u in linked if "//" in u]  # nothing from another host
    assert sorted(p.name for p in VENDOR.iterdir()) == sorted(COPIES)

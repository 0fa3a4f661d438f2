"""plugin-template/ renders a package that installs, passes its own tests, and decides."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).parents[1] / "plugin-template"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the rendered package, a private site folder it is pip-installed into)."""
    from cookiecutter.main import cookiecutter

    out = tmp_path_factory.mktemp("rendered")
    package = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(out)))
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(site), str(package)], check=True, capture_output=True,
                   timeout=300)
    return package, site


def _env(site: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site),
                                                         os.environ.get("PYTHONPATH", "")])}


def test_the_rendered_package_is_complete(rendered: tuple[Path, Path]):
    package, _ = rendered
    for name in ("pyproject.toml", "README.md", "LICENSE", ".github/workflows/test.yml",
                 "tests/test_plugin.py", "src/dispatchd_docs_router/__init__.py"):
        assert (package / name).is_file(), name
    assert "{{" not in (package / "pyproject.toml").read_text()


def test_the_rendered_tests_pass(rendered: tuple[Path, Path]):
    package, site = rendered
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests"], cwd=package, env=_env(site), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_dispatchd_lists_the_installed_plugin_and_its_hook_decides(rendered: tuple[Path, Path]):
    _, site = rendered
    listed = subprocess.run([sys.executable, "-m", "dispatchd", "plugins", "--json"],
                            env=_env(site), capture_output=True, text=True, timeout=60)
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["docs_router"]["status"] == "active"
    assert rows["docs_router"]["package"] == "dispatchd-docs-router"
    assert rows["docs_router"]["hooks"] == ["select_session"]
    probe = ("from dispatchd.pluginmanager import get_plugin_manager\n"
             "from dispatchd.testing import decide, make_session, make_task\n"
             "pm = get_plugin_manager()  # entry points included, as the daemon loads them\n"
             "free = [make_session('ccl-auto-1'), make_session('docs-writer')]\n"
             "print(decide(pm, make_task(tags=['docs']), free).session)\n")
    chosen = subprocess.run([sys.executable, "-c", probe], env=_env(site), capture_output=True,
                            text=True, timeout=60)
    assert chosen.stdout.strip() == "docs-writer", chosen.stderr

"""The docs say what the repository is: the layout tree names every module that exists (and nothing
that does not), tests mirror the packages, and every problem code has its anchor in the README."""

from __future__ import annotations

import re
from pathlib import Path

from shared.api.problems import ProblemCode

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
MIRRORED = ("shared/api", "shared/copy", "shared/sync", "shared/docintel", "local")


def layout_paths() -> list[str]:
    """The paths of the README's layout tree, from their indentation (two spaces a level)."""
    block = README.split("<!-- layout:start -->")[1].split("<!-- layout:end -->")[0]
    paths: list[str] = []
    parents: list[str] = []
    for line in block.splitlines():
        if not line.strip() or line.startswith("```"):
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        name = line.split()[0]
        parents = parents[:depth]
        path = "".join(parents) + name
        paths.append(path.rstrip("/"))
        if name.endswith("/"):
            parents.append(name)
    return paths


def test_every_path_in_the_layout_exists():
    missing = [p for p in layout_paths() if not (ROOT / p).exists()]
    assert missing == []


def test_the_layout_names_every_module_of_the_app_package():
    named = set(layout_paths())
    modules = [
        str(path.relative_to(ROOT))
        for folder in ("shared", "shared/api", "shared/copy", "shared/sync")
        for path in sorted((ROOT / folder).glob("*.py"))
        if path.name != "__init__.py"
    ]
    packages = [str(p.relative_to(ROOT)) for p in (ROOT / "shared").iterdir() if (p / "__init__.py").exists()]
    assert [m for m in modules + packages if m not in named] == []


def test_tests_mirror_the_packages():
    for package in MIRRORED:
        mirror = ROOT / "tests" / package.removeprefix("shared/")
        assert list(mirror.glob("test_*.py")) or list(mirror.glob("*/test_*.py")), f"no tests for {package}"


def test_every_problem_code_has_an_anchor_in_the_readme():
    anchors = set(re.findall(r'<a id="([a-z-]+)"></a>', README))
    assert {code.value for code in ProblemCode} <= anchors

"""Installing it: the wheel ships what the package needs, and a missing extra says what to install."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

WITHOUT_FASTAPI = textwrap.dedent(
    """
    import importlib.abc
    import sys


    class NoFastAPI(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] == "fastapi":
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None


    sys.meta_path.insert(0, NoFastAPI())
    import hitl_notebook  # the core needs no FastAPI
    from hitl_notebook._service import auth  # nor does token auth

    try:
        import hitl_notebook.http
    except ModuleNotFoundError as error:
        print(error.name)
        print(error)
    else:
        print("imported")
    """
)


def test_importing_the_http_api_without_fastapi_says_which_extra_to_install() -> None:
    """`import hitl_notebook.http` without FastAPI names the extra; `import hitl_notebook` works."""
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_FASTAPI],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    name, message = done.stdout.splitlines()
    assert name == "fastapi"
    assert message == (
        "hitl_notebook.http needs FastAPI, which is not installed here "
        "(No module named 'fastapi'); "
        "install the service extra: pip install 'hitl-notebook[service]'"
    )


def test_the_wheel_ships_the_license_the_type_marker_and_the_widget_files(
    tmp_path: Path,
) -> None:
    """A wheel built from the source tree holds LICENSE (MIT), py.typed, hitl.js and hitl.css."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("hitl_notebook-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = archive.read(metadata).decode()
        (license_file,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        shipped_license = archive.read(license_file).decode()
    assert {
        "hitl_notebook/py.typed",
        "hitl_notebook/_notebook/static/hitl.js",
        "hitl_notebook/_notebook/static/hitl.css",
    } <= names
    assert shipped_license == (ROOT / "LICENSE").read_text()
    assert shipped_license.startswith("MIT License\n\nCopyright (c) 2026 hitl_notebook developers")
    assert "License-Expression: MIT" in meta.splitlines()
    assert "License-File: LICENSE" in meta.splitlines()


def test_the_readme_starts_with_installing_from_the_package_index() -> None:
    """The first command a reader meets is `pip install "hitl-notebook[notebook]"`."""
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```\w*\n(.*?)```", readme, re.DOTALL)
    assert first_block is not None
    assert first_block.group(1).splitlines()[0] == 'pip install "hitl-notebook[notebook]"'
    assert "(soon)" not in readme


def test_every_extra_the_readme_names_is_declared() -> None:
    """Each `hitl-notebook[...]` the README tells readers to install names declared extras."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    named = re.findall(r"hitl-notebook\[([\w,-]+)\]", (ROOT / "README.md").read_text())
    extras = {extra for group in named for extra in group.split(",")}
    assert {"notebook", "service"} <= extras
    missing = {e for e in extras if not re.search(rf"^{e} = \[", pyproject, re.MULTILINE)}
    assert missing == set()


WITHOUT = textwrap.dedent(
    """
    import importlib.abc
    import sys

    BLOCKED = set(sys.argv[2].split(","))


    class Without(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None


    sys.meta_path.insert(0, Without())
    import hitl_notebook  # the core needs none of the frameworks

    try:
        __import__(sys.argv[1])
    except ModuleNotFoundError as error:
        print(error)
    else:
        print("imported")
    """
)


@pytest.mark.parametrize(
    ("module", "blocked", "message"),
    [
        (
            "hitl_notebook.pydantic_ai",
            "pydantic_ai",
            "hitl_notebook.pydantic_ai needs pydantic-ai, which is not installed here (No module "
            "named 'pydantic_ai'); install the pydantic-ai extra: "
            "pip install 'hitl-notebook[pydantic-ai]'",
        ),
        (
            "hitl_notebook.openai_agents",
            "agents",
            "hitl_notebook.openai_agents needs the OpenAI Agents SDK, which is not installed here "
            "(No module named 'agents'); install the openai-agents extra: "
            "pip install 'hitl-notebook[openai-agents]'",
        ),
        (
            "hitl_notebook.langgraph",
            "langchain,langchain_core,langgraph",
            "hitl_notebook.langgraph needs LangGraph, which is not installed here "
            "(No module named 'langchain'); install the langgraph extra: "
            "pip install 'hitl-notebook[langgraph]'",
        ),
    ],
)
def test_importing_an_llm_adapter_without_its_framework_says_which_extra_to_install(
    module: str, blocked: str, message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT, module, blocked],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == message

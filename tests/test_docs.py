"""The docs say what the code and the committed benchmark results say: the generated tables match a fresh
run of their generators, and every `WARTA_*` setting the code reads is explained in the operator's guide."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OPERATIONS = ROOT / "docs" / "operations.md"
SETTING = re.compile(r"WARTA_[A-Z0-9_]+")

pytestmark = pytest.mark.fast


def test_generated_figures_match_the_committed_results(tmp_path: Path) -> None:
    """`make bench` rewrites the results block of docs/benchmarks.md, its chart and the sizing table of
    docs/operations.md from bench/results; run that on the committed results and nothing may change."""
    for name in ("benchmarks.md", "benchmarks.svg", "operations.md"):
        shutil.copy(ROOT / "docs" / name, tmp_path / name)
    shutil.copytree(ROOT / "bench" / "results", tmp_path / "results")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARTA_")}
    run = subprocess.run(
        [sys.executable, "-c", "from bench import report; report.write()"],
        cwd=ROOT,
        env={**env, "WARTA_BENCH_OUT": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    for name in ("benchmarks.md", "benchmarks.svg", "operations.md"):
        fresh, committed = (tmp_path / name).read_text(), (ROOT / "docs" / name).read_text()
        assert fresh == committed, f"docs/{name} differs from its generator: run `python -m bench.sizing`"


def settings_read_by_the_code() -> dict[str, set[str]]:
    """Every `WARTA_*` name the code reads, and where: string literals that are exactly a setting's name
    (`os.environ.get("WARTA_CT2_MODEL")`, typer's `envvar=`), and config.py's `_env("NAME", …)`."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "src").rglob("*.py")):
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text())):
            name = None
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and SETTING.fullmatch(node.value)
            ):
                name = node.value
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "_env"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                name = f"WARTA_{node.args[0].value}"
            if name:
                found.setdefault(name, set()).add(where)
    return found


def test_the_settings_collector_finds_config_and_engine_settings() -> None:
    found = settings_read_by_the_code()
    # one read through config.py's helper, one straight from the environment in an engine, one by the CLI
    assert "src/warta/config.py" in found["WARTA_SMTP_POOL"]
    assert "src/warta/languages/engines/ctranslate2_engine.py" in found["WARTA_CT2_BEAM_SIZE"]
    assert "src/warta/cli.py" in found["WARTA_API_KEY"]
    assert "WARTA_NS" not in found  # a Python constant of the feeds module, not a setting


def test_every_setting_is_explained_in_operations() -> None:
    lines = OPERATIONS.read_text().splitlines()
    unexplained = []
    for name, where in sorted(settings_read_by_the_code().items()):
        # a line naming the setting in code style and saying something about it beyond names and values
        explained = any(
            f"`{name}" in line and len(re.findall(r"[a-z]{3,}", SETTING.sub("", line))) >= 5 for line in lines
        )
        if not explained:
            unexplained.append(f"{name} (read in {', '.join(sorted(where))})")
    assert not unexplained, "not explained in docs/operations.md: " + "; ".join(unexplained)


def test_the_settings_table_names_only_settings_the_code_reads() -> None:
    read = settings_read_by_the_code()
    table_rows = [line for line in OPERATIONS.read_text().splitlines() if line.startswith("| `WARTA_")]
    named = {name for line in table_rows for name in SETTING.findall(line.split("|")[1])}
    assert named, "the settings table was not found"
    assert named <= read.keys(), f"documented but read nowhere: {sorted(named - read.keys())}"

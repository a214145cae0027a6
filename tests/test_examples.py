"""Every script in examples/ runs to the end and writes its figures where told.

Each script runs in a fresh interpreter (``sys.executable``) with
``SKRNN_EXAMPLE_EPOCHS=1``, which shrinks its training to one epoch, and
``SKRNN_EXAMPLE_OUTPUT`` pointing to a temporary directory, from another
temporary directory as the working directory, so that a figure written to
the wrong place is caught. New scripts are picked up by the glob.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.py"))
# Scripts that only print.
NO_FIGURE = {"quickstart.py"}
# Scripts that need an optional package: they are skipped without it.
REQUIRES = {"dask_search.py": "distributed"}
# What some scripts must write: their figures, exactly, and lines of output.
FIGURES = {"forecasting.py": ["forecasting.png"],
           "forecast_intervals.py": ["forecast_intervals.png"]}
PRINTS = {
    # The table has a row per model and series.
    "forecasting.py": ("| co2 | naive", "| co2 | ridge + mean of 3 RNNs",
                       "| sunspots | ridge (", "| sunspots | ridge + mean of 3 RNNs",
                       "| co2 | 52 |", "| sunspots | 11 |"),
}
TIMEOUT = 300  # seconds per script; they take a few at one epoch


def _importable(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # e.g. a broken or blocked install
        return False


def test_examples_are_found():
    assert {"quickstart.py", "classification.py"} <= {p.name for p in EXAMPLES}


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda path: path.name)
def test_example_runs_and_saves_figures(script, tmp_path):
    required = REQUIRES.get(script.name)
    if required and not _importable(required):
        pytest.skip(f"{script.name} needs {required}, which is not installed")
    output = tmp_path / "output"
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    env = {
        **os.environ,
        "SKRNN_EXAMPLE_EPOCHS": "1",
        "SKRNN_EXAMPLE_OUTPUT": str(output),
        "MPLBACKEND": "Agg",
    }
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, (
        f"{script.name} exited with {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )
    assert result.stdout.strip(), f"{script.name} printed nothing"
    for line in PRINTS.get(script.name, ()):
        assert line in result.stdout, f"{script.name} did not print {line!r}"
    assert not list(workdir.rglob("*.png")), (
        f"{script.name} wrote figures to the working directory instead of "
        "SKRNN_EXAMPLE_OUTPUT"
    )
    if script.name in NO_FIGURE:
        return
    figures = sorted(output.glob("*.png")) if output.is_dir() else []
    assert figures, f"{script.name} wrote no PNG into SKRNN_EXAMPLE_OUTPUT"
    if script.name in FIGURES:
        assert [f.name for f in figures] == FIGURES[script.name], result.stdout
    for figure in figures:
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", figure.name
        # The script tells where its figures went.
        assert figure.name in result.stdout or str(output) in result.stdout, (
            f"{script.name} does not say where {figure.name} went"
        )

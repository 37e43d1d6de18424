"""Shared test helpers: run the CLI in-process and capture its exit code and output."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_collection_modifyitems(config, items):
    """`make test` spreads the tests over the cores (pytest-xdist, --dist loadgroup); the Ray tests share one
    worker, so two local Ray clusters never start at once."""
    for item in items:
        if item.get_closest_marker("ray") is not None:
            item.add_marker(pytest.mark.xdist_group("ray"))


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster (2 CPUs) for the tests of one module; yields its address."""
    ray = pytest.importorskip("ray")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    if ray.is_initialized():  # pragma: no cover
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """`cli("synth", "--rows", "100")` runs `noisebench ...` in this process."""
    from noisebench.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        cap = capsys.readouterr()
        return CliResult(code, cap.out, cap.err)

    return run


def pytest_configure(config):
    try:
        import torch

        torch.set_num_threads(min(2, os.cpu_count() or 1))
    except Exception:  # pragma: no cover
        pass


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory):
    """Verification cache (NOISEBENCH_CACHE_DIR) in a temporary folder, never the user's home."""
    old = os.environ.get("NOISEBENCH_CACHE_DIR")
    os.environ["NOISEBENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("nb-cache"))
    yield
    if old is None:
        os.environ.pop("NOISEBENCH_CACHE_DIR", None)
    else:
        os.environ["NOISEBENCH_CACHE_DIR"] = old

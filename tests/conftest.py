"""Shared set-up for every test.

Torch and OpenMP get one thread: two cores are shared by everything here. The engine's default
socket folder moves to a private temporary one, and the engine variables of the calling shell
are dropped, so no test can reach (or stop) an engine a user is running. The user cache
(precision measurements) is a temporary one too.
"""

import os
import tempfile

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="faceplate-tests-run-")
os.environ["FACEPLATE_CACHE"] = tempfile.mkdtemp(prefix="faceplate-tests-cache-")
for name in ("FACEPLATE_SOCKET", "FACEPLATE_TOKEN_FILE", "FACEPLATE_ENGINE_CMD"):
    os.environ.pop(name, None)


@pytest.fixture(scope="session")
def running(tmp_path_factory):
    """A real engine on a real socket, shared by the tests that leave it running (as a
    compositor's session shares one): (client, socket path). A test that kills, restarts or
    reconfigures an engine starts its own with ``engine_helpers.running_engine``."""
    from engine_helpers import running_engine

    folder = tmp_path_factory.mktemp("engine")
    with running_engine(folder) as client:
        yield client, str(folder / "engine" / "engine.sock")


@pytest.fixture(scope="session")
def engine_socket(running):
    return running[1]

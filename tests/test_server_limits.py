"""The engine's limits, each against a real engine on a real socket: work past its time or
memory limit, wedged workers, clients that never read, declared payloads across connections,
hostile model cards, connection floods and out-of-descriptor accepts, and the small ones (log
files, log lines, odd tokens and shapes, bad values, relative paths). Then a bounded soak:
clients misbehaving in all those ways while well-behaved ones keep getting right answers.

Wedged work is a worker process stopped with SIGSTOP: it never answers, exactly like a library
call that spins, and the test does not depend on how fast the machine is.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from engine_helpers import (
    engine_env,
    raw_authed,
    raw_connect,
    raw_hello,
    raw_json,
    raw_request,
    read_all,
    read_one,
    running_engine,
)
from faceplate.server.arrays import from_numpy, to_numpy
from faceplate_client import protocol as p
from faceplate_client.client import EngineClient
from protocol_fuzz import fuzz_inputs

RNG = np.random.default_rng(0)
LANDMARKS = RNG.uniform(20, 44, (1, 68, 2))
PLATE = RNG.uniform(0, 1, (64, 64, 3)).astype(np.float32)


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return "\nState:\tZ" in fh.read()
    except FileNotFoundError:
        return True


def _wait(predicate, seconds: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def _align(client, **params):
    return client.call("align", {"size": 64, **params},
                       {"landmarks": from_numpy(LANDMARKS), "image": from_numpy(PLATE)})


def _echo_ok(client, n: int = 1000) -> None:
    values = np.arange(n, dtype=np.float32)
    reply = client.call("echo", {"data": {"n": n}}, {"data": from_numpy(values)})
    assert reply.params["data"] == {"n": n}
    np.testing.assert_array_equal(to_numpy(reply.arrays["data"]), values)


def _code(fn) -> str:
    with pytest.raises(p.EngineError) as err:
        fn()
    return err.value.code


def _status_text(folder) -> str:
    env = engine_env()
    return subprocess.run(
        [sys.executable, "-m", "faceplate.cli", "status", "--socket", str(folder / "engine.sock"),
         "--token-file", str(folder / "engine.token")], env=env, capture_output=True, text=True,
        timeout=60, check=True).stdout


# --- 1 and 2: time, memory, wedged workers ---------------------------------------------------

def test_wedged_workers_are_killed_and_replaced_and_the_pool_never_shrinks(tmp_path):
    with running_engine(tmp_path, "--workers", "2") as client:
        folder = tmp_path / "engine"
        # the findings' inputs are refused before any work starts
        tiny = {"landmarks": from_numpy(LANDMARKS), "image": from_numpy(np.ones((1, 1, 3),
                                                                                np.float32))}
        assert _code(lambda: client.call("align", {"size": 64}, tiny)) == p.BAD_PARAMS
        assert _code(lambda: client.call("merge", {"model": "/m", "identity": "a",
                                                   "blur": 1e6}, {})) == p.BAD_PARAMS
        _align(client)
        before = client.status()["workers"]
        assert before["processes"] == 2 and before["replaced"] == 0
        for pid in before["pids"]:
            os.kill(pid, signal.SIGSTOP)  # wedged: they will never answer
        with ThreadPoolExecutor(2) as pool:
            codes = list(pool.map(lambda _: _code(lambda: _align(
                EngineClient(str(folder / "engine.sock"), str(folder / "engine.token"),
                             autostart=False), timeout_s=2)), range(2)))
        assert codes == [p.TIMEOUT, p.TIMEOUT]
        _wait(lambda: client.status()["workers"]["replaced"] == 2, what="both replaced")
        after = client.status()["workers"]
        assert after["processes"] == 2 and not set(after["pids"]) & set(before["pids"])
        _wait(lambda: all(_gone(pid) for pid in before["pids"]), what="the wedged workers")
        for _ in range(4):  # the whole pool serves again
            assert _align(client).arrays["crops"].shape == (1, 64, 64, 3)
        _echo_ok(client)
        text = _status_text(folder)
        assert "2 killed and replaced" in text and "limits:" in text
        log = (folder / "engine.log").read_text()
        assert log.count("killed worker") == 2


def test_sigterm_stops_the_engine_promptly_while_work_is_wedged(tmp_path):
    with running_engine(tmp_path, "--workers", "2") as client:
        folder = tmp_path / "engine"
        pid = client.hello()["pid"]
        workers = client.status()["workers"]["pids"]
        for w in workers:
            os.kill(w, signal.SIGSTOP)
        stuck = threading.Thread(target=lambda: _code(lambda: _align(EngineClient(
            str(folder / "engine.sock"), str(folder / "engine.token"), autostart=False),
            timeout_s=600)), daemon=True)
        stuck.start()
        _wait(lambda: any(r["state"] == "running" for r in client.status()["queue"]),
              what="the stuck request")
        os.kill(pid, signal.SIGTERM)
        _wait(lambda: _gone(pid), 25, "the engine to stop")  # its grace period is 30 s
        _wait(lambda: all(_gone(w) for w in workers), 10, "its workers")
        stuck.join(10)
        assert not stuck.is_alive()


def test_work_past_the_worker_memory_limit_fails_clearly_and_the_worker_serves_on(tmp_path):
    with running_engine(tmp_path, "--workers", "1", "--worker-memory", "300") as client:
        many = np.repeat(LANDMARKS, 64, axis=0)  # 64 crops of 1024²: 800 MB
        with pytest.raises(p.EngineError) as err:
            client.call("align", {"size": 1024}, {"landmarks": from_numpy(many),
                                                  "image": from_numpy(PLATE)})
        assert err.value.code == p.FAILED and "--worker-memory" in err.value.message
        assert _align(client).arrays["crops"].shape == (1, 64, 64, 3)
        status = client.status()
        assert status["limits"]["worker_memory_bytes"] == 300_000_000
        os.kill(status["workers"]["pids"][0], signal.SIGSTOP)  # wedged, then the engine
        os.kill(status["pid"], signal.SIGKILL)                  # dies without a word:
        _wait(lambda: _gone(status["workers"]["pids"][0]), 20, "the orphaned worker")


def test_clients_that_never_read_their_answers_do_not_block_the_pool(tmp_path):
    with running_engine(tmp_path, "--workers", "2", "--send-timeout", "120") as client:
        folder = tmp_path / "engine"
        big = from_numpy(np.zeros(16 << 20, np.uint8))
        readers = []
        for _ in range(4):  # twice the pool: each asks for 16 MB back and never reads it
            sock = raw_authed(folder)
            sock.sendall(raw_request("echo", {}, {"data": big}))
            readers.append(sock)
        time.sleep(1)
        for _ in range(5):  # answered while the four still sit on their answers (120 s)
            _echo_ok(client)
            assert _align(client).arrays["crops"].shape == (1, 64, 64, 3)
        assert client.status()["connections"] >= 5
        for sock in readers:
            sock.close()


# --- 3: one payload budget across connections ------------------------------------------------

def test_declared_payloads_are_budgeted_across_connections(tmp_path):
    with running_engine(tmp_path, "--max-message", "8", "--payload-memory", "12") as client:
        folder = tmp_path / "engine"
        body = json.dumps({"kind": "request", "id": "hog", "op": "echo", "arrays": [
            {"name": "data", "dtype": "uint8", "shape": [5_000_000]}]}).encode()
        frame = p.HEADER.pack(p.MAGIC, p.PROTOCOL_VERSION, 0, len(body), 5_000_000) + body
        hogs = []
        for _ in range(2):  # 10 of the 12 MB: held while they send the rest (they never do)
            sock = raw_authed(folder)
            sock.sendall(frame + b"x")
            hogs.append(sock)
        _wait(lambda: client.status()["payloads"]["used_bytes"] == 10_000_000, 10, "the hogs")
        third = raw_authed(folder)
        third.sendall(frame + b"x" * 5_000_000)  # refused, and the stream stays in step
        answer = read_one(third)
        assert (answer.id, answer.params["code"]) == ("hog", p.BUSY)
        assert "--payload-memory" in answer.params["message"]
        third.sendall(raw_request("echo", {"data": {"still": "here"}}, rid="after"))
        assert read_one(third).params["data"] == {"still": "here"}
        _echo_ok(client)  # small payloads still fit
        for sock in hogs:
            sock.close()
        _wait(lambda: client.status()["payloads"]["used_bytes"] == 0, 10, "the budget back")
        reply = client.call("echo", {}, {"data": from_numpy(np.ones(5_000_000, np.uint8))})
        assert to_numpy(reply.arrays["data"]).sum() == 5_000_000
        assert client.status()["payloads"]["refused"] == 1


# --- 4: model cards ----------------------------------------------------------------------------

def _card(folder, **changes) -> str:
    from faceplate.model.card import ModelCard

    folder.mkdir()
    card = ModelCard.for_resolution(["a", "b"], 64).to_dict()
    card.update(changes)
    (folder / "card.json").write_text(json.dumps(card))
    (folder / "model.safetensors").write_bytes(b"\0" * 16)
    return str(folder)


def test_model_cards_are_checked_before_anything_is_trusted(tmp_path):
    with running_engine(tmp_path) as client:
        cases = {
            "identities": _card(tmp_path / "many", identities=[f"p{i}" for i in range(10_000)]),
            "layer width": _card(tmp_path / "latent", latent=300_000),
            "whole numbers": _card(tmp_path / "floats", encoder_widths=[8.5, 16, 32, 64]),
            "plain name": _card(tmp_path / "escape", model_id=str(tmp_path / "ESCAPED")),
            "billion parameters": _card(tmp_path / "huge", latent=4096, bridge=4096,
                                        encoder_widths=[4096, 4096]),
        }
        for words, model in cases.items():
            with pytest.raises(p.EngineError) as err:
                client.call("load", {"model": model})
            assert err.value.code == p.FAILED and words in err.value.message, err.value.message
        assert _code(lambda: client.call("load", {"model": "relative/model"})) == p.BAD_PARAMS
        assert client.status()["models"] == []
    from faceplate.convert.cache import SwapCache, SwapKey
    from faceplate.errors import FaceplateError

    key = SwapKey("/tmp/ESCAPED", 0, "a", 1, 0, (0.0,) * 6, "x")
    with pytest.raises(FaceplateError, match="plain name"):
        SwapCache(str(tmp_path / "cache")).path(key)


# --- 5: connections ----------------------------------------------------------------------------

def test_pre_hello_deadline_counts_from_accept_and_connections_are_capped(tmp_path):
    with running_engine(tmp_path, "--hello-timeout", "5", "--max-unauthenticated", "4") as client:
        folder = tmp_path / "engine"
        trickler = raw_connect(folder)
        idle = [raw_connect(folder) for _ in range(3)]
        _wait(lambda: client.status()["connections"] == 5, 4, "the four to be accepted")
        refused = raw_connect(folder)  # the fifth before hello: told why, and closed
        assert [a.params["code"] for a in read_all(refused)] == [p.BUSY]
        _echo_ok(client)  # an authenticated client is not affected

        def trickle() -> float:
            start = time.monotonic()
            try:
                for byte in raw_hello(folder):  # a valid hello, one byte every 0.5 s
                    trickler.send(bytes([byte]))
                    time.sleep(0.5)
            except OSError:
                pass
            return time.monotonic() - start

        held = trickle()  # the whole hello would take about a minute
        assert held < 20, "trickled bytes must not extend the hello deadline"
        for sock in idle:
            assert read_all(sock) == []  # closed by the engine without an answer
        sock = raw_connect(folder)
        sock.sendall(raw_hello(folder))
        assert read_one(sock).kind == p.REPLY
        assert client.status()["refused_connections"] == 1


def test_accept_backs_off_when_descriptors_run_out(tmp_path):
    with running_engine(tmp_path, "--workers", "1") as client:
        folder = tmp_path / "engine"
        pid = client.hello()["pid"]
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        used = len(os.listdir(f"/proc/{pid}/fd"))
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (used + 4, hard))
        try:
            flood = []
            for _ in range(40):  # most wait in the backlog: accept fails with EMFILE
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.setblocking(False)
                try:
                    s.connect(str(folder / "engine.sock"))
                except BlockingIOError:
                    pass
                flood.append(s)
            time.sleep(4)
            log = (folder / "engine.log").read_text()
            failures = log.count("accept failed")
            assert 1 <= failures <= 3, failures  # one line per burst, not one per try
        finally:
            for s in flood:
                s.close()
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        _wait(lambda: "accepting again" in (folder / "engine.log").read_text(), 30,
              "accept to recover")
        _echo_ok(client)
        with EngineClient(str(folder / "engine.sock"), str(folder / "engine.token"),
                          autostart=False) as fresh:
            _echo_ok(fresh)


def test_connections_whose_thread_cannot_start_are_refused_and_the_engine_serves_on(tmp_path):
    """Under an address-space limit each new thread's stack is refused: the connection gets
    ``busy`` and the engine keeps serving the clients it has."""
    with running_engine(tmp_path, "--workers", "1") as client:
        folder = tmp_path / "engine"
        _echo_ok(client)
        pid = client.hello()["pid"]
        soft, hard = resource.prlimit(pid, resource.RLIMIT_AS)
        with open(f"/proc/{pid}/statm") as fh:
            mapped = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        idle = []
        resource.prlimit(pid, resource.RLIMIT_AS, (mapped + (64 << 20), hard))
        try:
            for _ in range(40):  # 8 MB of stack each: most cannot get a thread
                idle.append(raw_connect(folder))
            time.sleep(1)
            codes = [a.params["code"] for s in idle[-5:] for a in read_all(s)]
        finally:
            resource.prlimit(pid, resource.RLIMIT_AS, (soft, hard))
        assert codes and set(codes) == {p.BUSY}, codes
        for s in idle:
            s.close()
        _echo_ok(client)
        assert "cannot take a connection" in (folder / "engine.log").read_text()
        with EngineClient(str(folder / "engine.sock"), str(folder / "engine.token"),
                          autostart=False) as fresh:
            _echo_ok(fresh)


# --- 6: the smaller ones -----------------------------------------------------------------------

def test_logs_stay_private_after_rotation_and_one_line_per_record(tmp_path):
    with running_engine(tmp_path, "--log-size", "0.02") as client:
        folder = tmp_path / "engine"
        odd = raw_connect(folder)  # a client name that tries to forge a log line
        odd.sendall(raw_hello(folder, client="nuke\n2026-01-01 INFO forged"))
        assert read_one(odd).kind == p.REPLY
        odd.sendall(raw_json('{"kind": "request", "id": '))  # logged with the client's name
        assert read_one(odd).params["code"] == p.BAD_REQUEST
        odd.close()
        for _ in range(250):  # refused strangers: a warning line each, until it rotates
            sock = raw_connect(folder)
            sock.sendall(raw_hello(folder, token="0" * 64))
            read_all(sock)
            sock.close()
        _echo_ok(client)
    logs = sorted(folder.glob("engine.log*"))
    assert len(logs) >= 2
    for path in logs:
        assert os.stat(path).st_mode & 0o777 == 0o600, path
    text = "".join(path.read_text() for path in logs)
    assert "nuke\\n2026-01-01 INFO forged#" in text
    assert not any(line.startswith("2026-01-01 INFO forged") for line in text.splitlines())


def test_odd_tokens_shapes_and_bad_values_get_answers_not_tracebacks(tmp_path):
    with running_engine(tmp_path) as client:
        folder = tmp_path / "engine"
        sock = raw_connect(folder)  # a lone surrogate in the token
        sock.sendall(raw_json('{"kind":"request","id":"s","op":"hello","params":{"token":'
                              f'"\\ud800","protocol":{p.PROTOCOL_VERSION}}}}}'))
        assert [a.params["code"] for a in read_all(sock)] == [p.AUTH]
        sock = raw_authed(folder)  # an absurd empty array, then the connection goes on
        body = json.dumps({"kind": "request", "id": "z", "op": "echo", "arrays": [
            {"name": "data", "dtype": "float32", "shape": [0, 2**39, 2**39]}]}).encode()
        sock.sendall(p.HEADER.pack(p.MAGIC, p.PROTOCOL_VERSION, 0, len(body), 0) + body)
        assert read_one(sock).params["code"] == p.BAD_REQUEST
        sock.sendall(raw_request("echo", {"data": {"a": 1}}, rid="next"))
        assert read_one(sock).params["data"] == {"a": 1}

        faces = {"faces": from_numpy(np.zeros((1, 64, 64, 3), np.float32)),
                 "masks": from_numpy(np.zeros((1, 64, 64), np.float32)),
                 "matrices": from_numpy(np.eye(2, 3)[None]),
                 "landmarks": from_numpy(LANDMARKS), "image": from_numpy(PLATE)}
        merge = {"model": str(tmp_path / "model"), "identity": "a"}
        inf_matrix = from_numpy(np.full((1, 2, 3), np.inf))
        cases = {
            "align": ("align", {}, {"landmarks": from_numpy(np.zeros((0, 68, 2)))}),
            "matrices": ("merge", merge, {**faces, "matrices": inf_matrix}),
            "frame": ("merge", {**merge, "frame": 10**30}, faces),
            "matte": ("merge", {**merge, "mask": "image"},
                      {**faces, "matte": from_numpy(np.ones((10, 10), np.float32))}),
            "output": ("merge", {**merge, "output": "relative/out.exr"}, faces),
            "path": ("align", {"path": "plate.exr", "size": 64},
                     {"landmarks": from_numpy(LANDMARKS)}),
            "blur": ("merge", {**merge, "blur": 1e6}, faces),
            "training": ("train", {"facesets": {"a": "/a", "b": "/b"},
                                   "model_dir": str(tmp_path / "new"), "consent": "test",
                                   "overrides": {"encoder_widths": [8.5, 16, 32]}}, {}),
        }
        for name, (op, params, arrays) in cases.items():
            with pytest.raises(p.EngineError) as err:
                client.call(op, params, arrays)
            assert err.value.code == p.BAD_PARAMS, (name, err.value)
        assert "absolute" in _message(lambda: client.call("merge", {
            **merge, "output": "relative/out.exr"}, faces))
        _echo_ok(client)
    out = (folder / "serve.out").read_text()
    assert "Traceback" not in out, out


def _message(fn) -> str:
    with pytest.raises(p.EngineError) as err:
        fn()
    return err.value.message


# --- a bounded soak ----------------------------------------------------------------------------

def test_soak_misbehaving_clients_while_good_ones_keep_getting_right_answers(tmp_path):
    """About 20 s: three good clients loop echo and align while others trickle bytes before
    hello, never read, hog payload memory, send fuzz, time out, and send bad values."""
    with running_engine(tmp_path, "--workers", "2", "--hello-timeout", "3",
                        "--max-message", "32", "--payload-memory", "64") as client:
        folder = tmp_path / "engine"
        stop = threading.Event()
        good: list[int] = []
        errors: list[str] = []
        refusals: list[str] = []  # what the misbehaving clients were told (any is fine)

        def well_behaved(i: int) -> None:
            with EngineClient(str(folder / "engine.sock"), str(folder / "engine.token"),
                              autostart=False, client_name=f"good{i}") as c:
                n = 0
                while not stop.is_set():
                    try:
                        _echo_ok(c, 1000 + n)
                        assert _align(c).arrays["crops"].shape == (1, 64, 64, 3)
                        n += 1
                    except Exception as exc:  # noqa: BLE001 - collected and asserted on
                        errors.append(repr(exc))
                        return
                good.append(n)

        def misbehave(kind: str) -> None:
            while not stop.is_set():
                s = None
                try:
                    if kind == "trickle":
                        s = raw_connect(folder)
                        for byte in raw_hello(folder)[:10]:
                            s.send(bytes([byte]))
                            time.sleep(0.4)
                    elif kind == "never_reads":
                        s = raw_authed(folder)
                        s.sendall(raw_request("echo", {}, {"data": from_numpy(
                            np.zeros(8 << 20, np.uint8))}))
                        time.sleep(2)
                    elif kind == "hog":
                        s = raw_authed(folder)
                        body = json.dumps({"kind": "request", "id": "h", "op": "echo",
                                           "arrays": [{"name": "d", "dtype": "uint8",
                                                       "shape": [30_000_000]}]}).encode()
                        s.sendall(p.HEADER.pack(p.MAGIC, p.PROTOCOL_VERSION, 0, len(body),
                                                30_000_000) + body + b"x")
                        time.sleep(1.5)
                    elif kind == "fuzz":
                        for data in fuzz_inputs(20, seed=int(time.time())):
                            with raw_authed(folder) as f:
                                f.sendall(data)
                    elif kind == "late":
                        with EngineClient(str(folder / "engine.sock"),
                                          str(folder / "engine.token"), autostart=False) as c:
                            for _ in range(5):
                                try:
                                    _align(c, timeout_s=0.001)
                                except p.EngineError as exc:
                                    assert exc.code == p.TIMEOUT
                                assert _code(lambda: c.call("align", {}, {
                                    "landmarks": from_numpy(np.zeros((0, 68, 2)))})) \
                                    == p.BAD_PARAMS
                except (OSError, p.EngineError) as exc:
                    refusals.append(f"{kind}: {exc}")
                finally:
                    if s is not None:
                        s.close()

        kinds = ["trickle"] * 3 + ["never_reads"] * 2 + ["hog"] * 2 + ["fuzz", "late"]
        threads = [threading.Thread(target=well_behaved, args=(i,)) for i in range(3)]
        threads += [threading.Thread(target=misbehave, args=(k,), daemon=True) for k in kinds]
        for t in threads:
            t.start()
        time.sleep(20)
        stop.set()
        for t in threads:
            t.join(60)
        assert not errors, errors
        assert len(good) == 3 and all(n > 0 for n in good), good
        _echo_ok(client)
        status = client.status()
        assert status["workers"]["processes"] == 2

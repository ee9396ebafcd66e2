"""Service ops: handshake, status, models, cancel, shutdown, echo."""

from __future__ import annotations

import os

from faceplate_client.protocol import PROTOCOL_VERSION

from ... import __version__
from ..ops import REGISTRY, ArraySpec, Param, Result, operation

_ANY_DTYPE = ("uint8", "uint16", "int32", "int64", "float16", "float32", "float64")


@operation("hello", "Handshake: proves the token, checks the protocol, lists the ops.",
           params=(Param("token", str, help="contents of the engine's token file"),
                   Param("protocol", int, help="the client's protocol version"),
                   Param("client", str, "", help="who is calling, for the log")),
           lane="control", timeout_s=10.0)
def hello(req) -> Result:
    return Result({"engine": "faceplate", "version": __version__, "protocol": PROTOCOL_VERSION,
                   "pid": os.getpid(),
                   "ops": [op.describe() for op in REGISTRY.values()]})


@operation("status", "Version, device, loaded models, requests in flight.",
           lane="control", timeout_s=10.0)
def status(req) -> Result:
    return Result(req.engine.describe(asking=req.id))


@operation("load", "Load a model into the cache (the frame ops also load on first use).",
           params=(Param("model", str, help="model folder", path=True),),
           lane="pool", timeout_s=600.0)
def load(req) -> Result:
    entry = req.engine.models.load(req.params["model"], req.engine.device)
    return Result({"model": entry.path, "bytes": entry.nbytes, "device": entry.device,
                   "card": entry.model.card.to_dict()})


@operation("unload", "Drop a model from the cache.",
           params=(Param("model", str, help="model folder", path=True),),
           lane="control", timeout_s=10.0)
def unload(req) -> Result:
    return Result({"unloaded": req.engine.models.unload(req.params["model"])})


@operation("cancel", "Cancel a queued or running request by its id.",
           params=(Param("request", str, help="id of the request to cancel"),),
           lane="control", timeout_s=10.0)
def cancel(req) -> Result:
    return Result({"cancelled": req.engine.cancel(req.params["request"])})


@operation("shutdown", "Stop the engine after answering; running requests are cancelled.",
           lane="control", idempotent=False, timeout_s=10.0)
def shutdown(req) -> Result:
    result = Result({"stopping": True})
    req.reply(result)  # answer before the engine starts closing connections
    req.engine.stop()
    return result


@operation("echo", "Return the params and arrays as received: measures the protocol's cost.",
           params=(Param("data", dict, {}, help="any JSON object"),),
           arrays=(ArraySpec("data", _ANY_DTYPE, None, required=False),),
           lane="pool", timeout_s=60.0)
def echo(req) -> Result:
    return Result({"data": req.params["data"]}, dict(req.arrays))

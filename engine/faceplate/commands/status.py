"""Ask the running engine what it is doing: version, device, loaded models, requests in flight.

Says plainly when no engine runs (exit status 1). `--shutdown` asks it to stop.
"""

from __future__ import annotations

import argparse
import json

HELP = "show the running engine's version, device, models and queue"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--socket", metavar="ADDRESS",
                        help="socket path or tcp://127.0.0.1:PORT (default: $FACEPLATE_SOCKET)")
    parser.add_argument("--token-file", metavar="PATH", help="the engine's token file")
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    parser.add_argument("--shutdown", action="store_true", help="ask the engine to stop")


def run(args: argparse.Namespace) -> int:
    from faceplate_client.client import EngineClient
    from faceplate_client.protocol import UNAVAILABLE, EngineError

    from ..errors import FaceplateError

    try:
        client = EngineClient(args.socket, args.token_file, autostart=False, connect_timeout=5)
    except (ValueError, PermissionError) as exc:
        raise FaceplateError(str(exc)) from None
    try:
        with client:
            status = client.status()
            if args.shutdown:
                client.call("shutdown")
    except EngineError as exc:
        if exc.code != UNAVAILABLE:
            raise FaceplateError(exc.message) from None
        if args.json:
            print(json.dumps({"running": False, "address": str(client.address)}))
        else:
            print(f"no engine is running at {client.address} (start one with `faceplate serve`;"
                  " the Nuke nodes start one themselves)")
        return 1
    status["running"] = True
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        print(_render(status, stopping=args.shutdown))
    return 0


def _limits(s: dict) -> list[str]:
    """The limits every client is held to, and what the worker processes went through."""
    lim, pay, w = s.get("limits"), s.get("payloads") or {}, s.get("workers")
    if not lim:
        return []
    lines = [
        (f"  limits:   {lim['max_connections']} connections ({lim['max_unauthenticated']} before "
        f"hello, {lim['hello_timeout_s']:g} s to say it; {s.get('refused_connections', 0)} "
        f"refused), answers stalled {lim['send_timeout_s']:g} s dropped"),
        (f"            messages up to {lim['max_message_bytes'] / 1e6:.0f} MB; payloads "
        f"{pay.get('used_bytes', 0) / 1e6:.0f} of {lim['payload_memory_bytes'] / 1e6:.0f} MB "
        f"held ({pay.get('refused', 0)} refused)")]
    if w is None:
        lines.append(f"  workers:  {lim['workers']} threads, not isolated (--no-isolation)")
    else:
        lines.append(f"  workers:  {w['processes']} processes (pids "
                     f"{', '.join(map(str, w['pids']))}), {w['memory_bytes'] / 1e6:.0f} MB "
                     f"each; {w['replaced']} killed and replaced")
        lines += [f"    replaced pid {r['pid']}: {r['request']} ({r['reason']})"
                  for r in w["last_replaced"]]
    return lines


def _render(s: dict, stopping: bool) -> str:
    lines = [f"faceplate engine {s['version']} (protocol {s['protocol']}, pid {s['pid']}) on "
             + s["address"]]
    lines.append(f"  device:   {s['device']}   up {s['uptime_s']:.0f} s   {s['connections']} "
                 f"connection(s), {s['requests_served']} requests served")
    lines.append(f"  models:   {len(s['models'])} loaded, {s['model_bytes'] / 1e6:.0f} of "
                 f"{s['model_budget_bytes'] / 1e6:.0f} MB")
    lines += [f"    {m['path']}  ({m['bytes'] / 1e6:.0f} MB, {', '.join(m['identities'])})"
              for m in s["models"]]
    lines.append(f"  queue:    {len(s['queue'])} request(s) in flight, {s['device_queue']} "
                 "waiting for the device")
    for r in s["queue"]:
        p = r.get("progress") or {}
        done = f"  {p.get('done')}/{p.get('total')} {p.get('stage', '')}" if p else ""
        lines.append(f"    {r['op']:<12} {r['state']:<8} {r['age_s']:>7.1f} s  "
                     f"{r['client']}{done}")
    lines += _limits(s)
    lines.append(f"  log:      {s['log']}")
    if stopping:
        lines.append("  shutting down")
    return "\n".join(lines)

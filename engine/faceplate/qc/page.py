"""``report/index.html``: the QC report as one static page (no script, no server, no network;
its pictures are files beside it). Everything on it comes from ``report.json``'s dict."""

from __future__ import annotations

from html import escape

from .qc_pictures import STATUS_COLOURS

# How the tests and docs/qc_report_picture.py open the page in headless Chromium offline
# (without the background-networking flags it keeps trying to reach Google's hosts).
HEADLESS_CHROMIUM = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--hide-scrollbars")

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:6px 0} td,th{border:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:top} th{background:#f4f4f4}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;font-weight:600}
.meta{color:#555} code,pre{font:12px ui-monospace,monospace;background:#f6f6f6}
pre{padding:8px;white-space:pre-wrap;word-break:break-all} img{max-width:100%}
.strip{margin:10px 0}
"""


def _badge(status: str) -> str:
    colour = STATUS_COLOURS.get(status, STATUS_COLOURS["n/a"])
    return f'<span class="badge" style="background:{colour}">{escape(status.upper())}</span>'


def _number(value) -> str:
    return "—" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)


def _threshold(check: dict) -> str:
    if check["check"] == "delivered":
        return "every frame"
    sign = "&gt;" if check["worse"] == "above" else "&lt;"
    return f"warn {sign} {check['warn']:g}<br>fail {sign} {check['fail']:g}"


def render(report: dict) -> str:
    rows = "".join(
        f"<tr><td><b>{escape(c['title'])}</b><br><span class=meta>{escape(c['what'])}</span>"
        f"</td><td>{_threshold(c)}</td><td>{_badge(c['status'])}</td>"
        f"<td>{_number(c['worst'])}"
        f"{'' if c['worst_frame'] is None else ' (frame ' + str(c['worst_frame']) + ')'}</td>"
        f"<td>{escape(c['fail_frames']) or '—'}</td><td>{escape(c['warn_frames']) or '—'}</td>"
        f"<td>{c['measured_frames']}</td></tr>" for c in report["checks"])
    names = [c["check"] for c in report["checks"] if c["check"] != "delivered"]
    worst = "".join(
        f'<div class=strip><img src="{escape(w["picture"])}" alt="frame {w["frame"]}"><br>'
        f"frame <b>{w['frame']}</b>, worst on <b>{escape(w['why'])}</b>: "
        + ", ".join(f"{escape(n)} {_number(w['figures'].get(n))}" for n in names)
        + "</div>" for w in report["worst_frames"])
    model = report.get("model") or {}
    model_rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(_number(v))}</td></tr>"
                         for k, v in model.items() if k not in ("loss_plot",))
    loss = (f'<p><img src="{escape(model["loss_plot"])}" alt="training loss"></p>'
            if model.get("loss_plot") else "<p class=meta>no loss curve beside the model</p>")
    commands = "".join(f"<li><span class=meta>{escape(r.get('time', ''))} · "
                       f"{escape(r.get('stage', ''))}</span><pre>{escape(r.get('command', ''))}"
                       f"</pre></li>" for r in report["runs"])
    notes = "".join(f"<li>{escape(n)}</li>" for n in report["notes"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>QC · {escape(report['shot_name'])}</title><style>{CSS}</style></head><body>
<h1>QC report · {escape(report['shot_name'])} {_badge(report['verdict'])}</h1>
<p class=meta>{escape(report['created'])} · Faceplate {escape(report['faceplate_version'])}<br>
plate <code>{escape(report['plate'])}</code><br>merged <code>{escape(report['merged'])}</code><br>
{len(report['frames'])} frames, {report['frames_with_faces']} with a face, swapped into
<b>{escape(report['identity'])}</b>; cuts at {escape(', '.join(map(str, report['cuts'])) or 'none')}
· numbers for pipelines: <a href="{escape(report['json'])}">{escape(report['json'])}</a></p>
{f'<ul>{notes}</ul>' if notes else ''}
<h2>Verdict</h2>
<table id="verdicts"><tr><th>check</th><th>threshold</th><th>verdict</th><th>worst</th>
<th>failing frames</th><th>warning frames</th><th>frames measured</th></tr>{rows}</table>
<h2>Per frame</h2>
<p><img src="{escape(report['curves'])}" alt="per-frame curves"></p>
<h2>Worst frames</h2>
{worst or '<p class=meta>no frame with a face</p>'}
<h2>Model</h2>
<table>{model_rows or '<tr><td>no model recorded (a null swap?)</td></tr>'}</table>
{loss}
<p>Occlusion: {escape(report['occlusion'] or 'none (no occlusion model for this shot)')}</p>
<h2>How the shot was made</h2>
<ol>{commands or '<li>no run log (SHOTDIR/runs.json)</li>'}</ol>
</body></html>
"""

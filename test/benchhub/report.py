"""Turn the hub benchmark's results into docs/bench/kubespawner.md's tables and plots.

Reads .cache/benchhub/results/*.json (written by TestHubBench), rewrites the
blocks between <!-- BEGIN GENERATED: x --> and <!-- END GENERATED: x --> in
docs/bench/kubespawner.md (the prose around them is written by hand), writes
docs/bench/spawn-wave.png and docs/bench/steady.png, and a small summary,
docs/bench/kubespawner-results.json (no per-user latencies).

Run with the bench venv: .cache/venv-bench-jh5/bin/python test/benchhub/report.py
"""

from __future__ import annotations

import glob
import itertools
import json
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RESULTS = os.path.join(ROOT, ".cache", "benchhub", "results")
DOCS = os.path.join(ROOT, "docs", "bench")
REPORT = os.path.join(DOCS, "kubespawner.md")
KD, KS = "kubedesk", "kubespawner"
LABEL = {KD: "kubedesk", KS: "KubeSpawner"}
HUBS = ["jh5", "jh6"]
API_KEYS = [
    "POST pods",
    "POST secrets",
    "POST persistentvolumeclaims",
    "GET pods",
    "LIST pods",
    "WATCH pods",
    "DELETE pods",
    "POST events",
    "LIST events",
    "WATCH events",
    "POST pods/binding",
    "PATCH pods/status",
]


def load() -> dict[str, dict]:
    out = {}
    for path in sorted(glob.glob(os.path.join(RESULTS, "*.json"))):
        with open(path) as f:
            r = json.load(f)
        out[r["name"]] = r
    return out


def get(results, hub, scenario, spawner, n, variant=""):
    return results.get(f"{hub}-{scenario}-{spawner}-N{n}" + (f"-{variant}" if variant else ""))


def proper(results):
    """The benchmark proper: results of diagnostic variants left out."""
    return {k: r for k, r in results.items() if not r.get("variant")}


def variant_rows(results):
    """Diagnostic waves next to the matrix's waves of the same hub and N.

    Variants of the other scenarios (restart-hub, steady) are described by
    hand in their sections: their waves only set the scene.
    """
    lines = [
        "| hub | N | run | p50 s | p95 s | max s | total s | ready / failed | hub CPU s | "
        "service CPU s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(results.values(), key=lambda r: (r["hub"], r["n"], r["name"])):
        if not r.get("variant") or r["scenario"] != "wave":
            continue
        for label, x in (
            (f"kubedesk, variant {r['variant']}", r),
            ("kubedesk (matrix run above)", get(results, r["hub"], r["scenario"], KD, r["n"])),
            ("KubeSpawner", get(results, r["hub"], r["scenario"], KS, r["n"])),
        ):
            if x:
                lines.append(
                    f"| {r['hub']} | {r['n']} | {label} | {x['p50']:.1f} | {x['p95']:.1f} | "
                    f"{x['max']:.1f} | {x['total']:.1f} "
                    f"| {x['ready']} / {x['failed']} | {x['hub_cpu']:.1f} | "
                    f"{x['service_cpu']:.1f} |"
                )
    return "\n".join(lines)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}"


def f1(x):
    return "–" if x is None else f"{x:.1f}"


def f0(x):
    return "–" if x is None else f"{x:.0f}"


def wave_rows(results, hub, scenario="wave"):
    ns = sorted({r["n"] for r in results.values() if r["hub"] == hub and r["scenario"] == scenario})
    lines = [
        "| N | spawner | p50 s | p95 s | p99 s | max s | total s | ready / failed | "
        "ready 35 s later (one poll) · pods without server · servers without pod | hub CPU s | "
        "hub peak RSS MiB | proxy CPU s | service CPU s | service peak RSS MiB | "
        "hub+service CPU s | API requests | load avg (1 min) at start |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in ns:
        kd, ks = get(results, hub, scenario, KD, n), get(results, hub, scenario, KS, n)
        for r in (kd, ks):
            if not r:
                continue
            svc = r["spawner"] == KD
            lines.append(
                f"| {n} | {LABEL[r['spawner']]} | {r['p50']:.1f} | {r['p95']:.1f} | "
                f"{r['p99']:.1f} | {r['max']:.1f} | {r['total']:.1f} "
                f"| {r['ready']} / {r['failed']} | {after_poll(r)} | {r['hub_cpu']:.1f} | "
                f"{r['hub_rss_mib']:.0f} | {r['proxy_cpu']:.1f} "
                f"| {f1(r['service_cpu']) if svc else '–'} | "
                f"{f0(r['service_rss_mib']) if svc else '–'} "
                f"| {r['hub_cpu'] + r['service_cpu']:.1f} | {r['api_total']:.0f} | "
                f"{r['load_before'].split()[0] if r['load_before'] else '–'} |"
            )
        if kd and ks:
            lines.append(
                f"| {n} | **ratio kd/KS** | **{ratio(kd['p50'], ks['p50'])}** | "
                f"**{ratio(kd['p95'], ks['p95'])}** | {ratio(kd['p99'], ks['p99'])} "
                f"| {ratio(kd['max'], ks['max'])} | **{ratio(kd['total'], ks['total'])}** | | | "
                f"**{ratio(kd['hub_cpu'], ks['hub_cpu'])}** "
                f"| {ratio(kd['hub_rss_mib'], ks['hub_rss_mib'])} | "
                f"{ratio(kd['proxy_cpu'], ks['proxy_cpu'])} | | "
                f"| {ratio(kd['hub_cpu'] + kd['service_cpu'], ks['hub_cpu'])} | "
                f"{ratio(kd['api_total'], ks['api_total'])} | |"
            )
    failures = []
    for n in ns:
        for sp in (KD, KS):
            r = get(results, hub, scenario, sp, n)
            if r and r.get("failures"):
                api = ", ".join(
                    f"{k} × `{clean(msg)}`"
                    for msg, k in sorted(r["failures"].items(), key=lambda x: -x[1])
                )
                failures.append(f"- N={n}, {LABEL[sp]}: the API answered {api}")
                for msg, k in sorted(
                    ((r.get("extra") or {}).get("hub_log_errors") or {}).items(),
                    key=lambda x: -x[1],
                ):
                    failures.append(f"  - hub log: {k} × `{msg}`")
    if failures:
        lines += ["", "Failures:", ""] + failures
    return "\n".join(lines)


def clean(msg):
    """One line of an error message; an HTML error page becomes its status."""
    if "<html" in msg.lower() or "<!doctype" in msg.lower():
        return msg.split(":")[0] + " (an HTML error page)"
    return re.sub(r"\s+", " ", msg).strip()


def after_poll(r):
    e = r.get("extra") or {}
    if "ready_after_poll" not in e:
        return "–"
    return (
        f"{e['ready_after_poll']} · {e.get('orphan_pods_after_poll')} · "
        f"{e.get('servers_without_pod_after_poll')}"
    )


def api_rows(results, hub, scenario="wave"):
    ns = sorted({r["n"] for r in results.values() if r["hub"] == hub and r["scenario"] == scenario})
    keys = list(API_KEYS)
    extra = set()
    for r in results.values():
        if r["hub"] == hub and r["scenario"] == scenario:
            extra |= {k for k, v in r["api"].items() if v >= r["n"] * 0.05}
    keys += sorted(extra - set(keys))
    head = "| N | spawner | " + " | ".join(keys) + " | all |"
    lines = [head, "|" + "---|" * (len(keys) + 3)]
    for n in ns:
        for sp in (KD, KS):
            r = get(results, hub, scenario, sp, n)
            if not r:
                continue
            vals = " | ".join(f0(r["api"].get(k, 0)) for k in keys)
            lines.append(f"| {n} | {LABEL[sp]} | {vals} | {r['api_total']:.0f} |")
    return "\n".join(lines)


def service_api_rows(results):
    lines = ["| hub | N | requests the service sent (its kube_requests_total) |", "|---|---|---|"]
    for r in sorted(results.values(), key=lambda r: (r["hub"], r["n"])):
        if r["scenario"] == "wave" and r["spawner"] == KD and r.get("service_api"):
            parts = ", ".join(f"{k} {v:.0f}" for k, v in sorted(r["service_api"].items()))
            lines.append(f"| {r['hub']} | {r['n']} | {parts} |")
    return "\n".join(lines)


def restart_rows(results):
    lines = [
        "| hub | spawner | servers | hub stop s | hub API back s | all servers ready s | "
        "ready after restart / after one poll interval | orphan pods | servers without pod | "
        "hub CPU s (restart → ready) | API requests (restart window) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    pair = {}
    for r in sorted(results.values(), key=lambda r: (r["hub"], r["spawner"])):
        if r["scenario"] != "restart-hub":
            continue
        e = r["extra"]
        pair[(r["hub"], r["spawner"])] = e
        lines.append(
            f"| {r['hub']} ({r['hub_version']}) | {LABEL[r['spawner']]} | {r['n']} | "
            f"{e.get('hub_stop_s', 0):.1f} | {e.get('hub_api_s', 0):.1f} "
            f"| {e.get('hub_all_ready_s', 0):.1f} | "
            f"{e.get('ready_after_restart')} / {e.get('ready_after_poll')} "
            f"| {e.get('orphan_pods_after_restart')} | "
            f"{e.get('servers_without_pod_after_restart')} | {e.get('hub_restart_cpu', 0):.1f} "
            f"| {e.get('restart_api_total', 0):.0f} |"
        )
    for hub in HUBS:
        kd, ks = pair.get((hub, KD)), pair.get((hub, KS))
        if kd and ks:
            lines.append(
                f"| {hub} | **ratio kd/KS** | | {ratio(kd['hub_stop_s'], ks['hub_stop_s'])} | "
                f"{ratio(kd['hub_api_s'], ks['hub_api_s'])} "
                f"| **{ratio(kd['hub_all_ready_s'], ks['hub_all_ready_s'])}** | | | | "
                f"{ratio(kd['hub_restart_cpu'], ks['hub_restart_cpu'])} "
                f"| {ratio(kd['restart_api_total'], ks['restart_api_total'])} |"
            )
    return "\n".join(lines)


def kill_rows(results):
    lines = []
    for r in sorted(results.values(), key=lambda r: r["hub"]):
        if r["scenario"] != "kill-service":
            continue
        e = r["extra"]
        lines.append(
            f"- {r['hub']} ({r['hub_version']}), "
            f"N={r['n']}: service SIGKILLed with {e.get('pods_at_kill')} pods created and "
            f"{e.get('ready_at_kill')} of {r['n']} ready, "
            f"back (restarted, ready) {e.get('service_down_s', 0):.1f} s later. "
            f"Wave: {r['ready']} ready in the hub, {r['failed']} failed; "
            f"p50 {r['p50']:.1f} s, p95 {r['p95']:.1f} s, max {r['max']:.1f} s, "
            f"total {r['total']:.1f} s. "
            f"After the wave: {e.get('pods_after_wave')} pods, "
            f"{e.get('hub_servers_after_wave')} hub servers, "
            f"**{e.get('orphan_pods_after_wave')} pods without a server, "
            f"{e.get('servers_without_pod_after_wave')} servers without a pod**. "
            f"Retry of {e.get('retried')} not-ready users: {e.get('retry_ready')} ready in "
            f"{e.get('retry_s', 0):.1f} s "
            f"(failures: {e.get('retry_failures') or 'none'}); "
            f"then {e.get('orphan_pods_after_retry')} orphan pods, "
            f"{e.get('servers_without_pod_after_retry')} servers without a pod."
        )
        msgs = e.get("hub_log_errors") or r.get("failures") or {}
        for msg, k in sorted(msgs.items(), key=lambda x: -x[1]):
            lines.append(f"  - failed ×{k}: `{clean(msg)}`")
    return "\n".join(lines) or "(not run)"


def steady_rows(results):
    lines = [
        "| hub | spawner | servers | window s | hub CPU s | hub CPU % of a core | proxy CPU s | "
        "service CPU s | hub+service CPU s | API requests/s (all clients) | "
        "service's own requests/s | hub RSS MiB | service RSS MiB | still ready |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    pair = {}
    for r in sorted(results.values(), key=lambda r: (r["hub"], r["spawner"])):
        if r["scenario"] != "steady":
            continue
        e = r["extra"]
        pair[(r["hub"], r["spawner"])] = e
        svc = r["spawner"] == KD
        lines.append(
            f"| {r['hub']} | {LABEL[r['spawner']]} | {r['n']} | {e['steady_seconds']:.0f} | "
            f"{e['steady_hub_cpu']:.1f} "
            f"| {100 * e['steady_hub_cpu'] / e['steady_seconds']:.0f} | "
            f"{e['steady_proxy_cpu']:.1f} "
            f"| {f1(e['steady_service_cpu']) if svc else '–'} | "
            f"{e['steady_hub_cpu'] + e['steady_service_cpu']:.1f} "
            f"| {e['steady_api_per_s']:.1f} | "
            f"{f1(e.get('steady_service_api_per_s')) if svc else '–'} "
            f"| {e['steady_hub_rss']:.0f} | {f0(e['steady_service_rss']) if svc else '–'} | "
            f"{e.get('steady_ready_after')} |"
        )
    for hub in HUBS:
        kd, ks = pair.get((hub, KD)), pair.get((hub, KS))
        if kd and ks:
            # kubedesk's hub and service together against KubeSpawner's hub.
            both = ratio(kd["steady_hub_cpu"] + kd["steady_service_cpu"], ks["steady_hub_cpu"])
            lines.append(
                f"| {hub} | **ratio kd/KS** | | | "
                f"**{ratio(kd['steady_hub_cpu'], ks['steady_hub_cpu'])}** | | "
                f"{ratio(kd['steady_proxy_cpu'], ks['steady_proxy_cpu'])} | | "
                f"**{both}** | "
                f"{ratio(kd['steady_api_per_s'], ks['steady_api_per_s'])} | | "
                f"{ratio(kd['steady_hub_rss'], ks['steady_hub_rss'])} | | |"
            )
    return "\n".join(lines)


def plot(results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hubs = [
        h for h in HUBS if any(r["hub"] == h and r["scenario"] == "wave" for r in results.values())
    ]
    if not hubs:
        return
    fig, axes = plt.subplots(2, len(hubs), figsize=(6.5 * len(hubs), 9), squeeze=False)
    colors = {KD: "tab:blue", KS: "tab:orange"}
    for j, hub in enumerate(hubs):
        ax = axes[0][j]
        ns = sorted(
            {r["n"] for r in results.values() if r["hub"] == hub and r["scenario"] == "wave"}
        )
        styles = ["-", "--", "-.", ":"]
        for k, n in enumerate(reversed(ns)):
            for sp in (KD, KS):
                r = get(results, hub, "wave", sp, n)
                if not r:
                    continue
                lat = sorted(r["latencies"])
                ax.plot(
                    [0.0] + lat,
                    list(range(len(lat) + 1)),
                    styles[k % len(styles)],
                    color=colors[sp],
                    label=f"{LABEL[sp]} N={n}",
                )
        ax.set_title(f"JupyterHub {results_hub_version(results, hub)}: servers ready over time")
        ax.set_xlabel("seconds from request to ready")
        ax.set_ylabel("servers ready (cumulative)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax = axes[1][j]
        for sp in (KD, KS):
            rs = [get(results, hub, "wave", sp, n) for n in ns]
            pts = [(r["n"], r) for r in rs if r]
            if not pts:
                continue
            ax.plot(
                [n for n, _ in pts],
                [r["p50"] for _, r in pts],
                "o-",
                color=colors[sp],
                label=f"{LABEL[sp]} p50",
            )
            ax.plot(
                [n for n, _ in pts],
                [r["p95"] for _, r in pts],
                "s--",
                color=colors[sp],
                label=f"{LABEL[sp]} p95",
            )
            for n, r in pts:
                if r["failed"]:
                    ax.annotate(
                        f"{r['failed']} failed",
                        (n, r["p95"]),
                        textcoords="offset points",
                        xytext=(-60 if sp == KS else 5, 8 if sp == KD else -14),
                        fontsize=7,
                        color=colors[sp],
                    )
            ax.plot(
                [n for n, _ in pts],
                [r["hub_cpu"] for _, r in pts],
                "^:",
                color=colors[sp],
                alpha=0.6,
                label=f"{LABEL[sp]} hub CPU s",
            )
        ax.set_title("request → ready (s, successful users) and hub CPU s, by N")
        ax.set_xlabel("users started at once (N)")
        ax.set_ylabel("seconds")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(DOCS, "spawn-wave.png"), dpi=90)
    plt.close(fig)

    steady = [r for r in results.values() if r["scenario"] == "steady"]
    if steady:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for r in sorted(steady, key=lambda r: (r["hub"], r["spawner"])):
            ser = r["extra"].get("steady_series") or []
            if len(ser) < 2:
                continue
            ts, cpu = [], []
            for a, b in itertools.pairwise(ser):
                dt = b["t"] - a["t"]
                if dt > 0:
                    ts.append(b["t"])
                    cpu.append(100 * (b["hub_cpu"] - a["hub_cpu"]) / dt)
            ax.plot(
                ts,
                cpu,
                color=colors[r["spawner"]],
                alpha=0.8,
                linestyle="-" if r["hub"] == "jh5" else "--",
                label=f"{LABEL[r['spawner']]} hub, {r['hub']}",
            )
        ax.set_title(
            f"Steady polling, {steady[0]['n']} servers, poll_interval 3 s: hub CPU (% of a core)"
        )
        ax.set_xlabel("seconds")
        ax.set_ylabel("% CPU")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(DOCS, "steady.png"), dpi=90)
        plt.close(fig)


def results_hub_version(results, hub):
    for r in results.values():
        if r["hub"] == hub:
            return r["hub_version"]
    return hub


def summary(results):
    out = []
    for r in sorted(results.values(), key=lambda r: r["name"]):
        s = {k: v for k, v in r.items() if k not in ("latencies", "series", "extra")}
        s["extra"] = {k: v for k, v in (r.get("extra") or {}).items() if k != "steady_series"}
        out.append(s)
    with open(os.path.join(DOCS, "kubespawner-results.json"), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")


PROFILES = os.path.join(ROOT, ".cache", "benchhub", "profiles")
# Where the hub's sampled time goes, by the file a stack's frames come from:
# the first matching category from the innermost frame outwards wins.
CATEGORIES = [
    ("kubespawner (spawner, reflector)", "(kubespawner/"),
    ("kubernetes_asyncio client", "(kubernetes_asyncio/"),
    ("httpcore connection pool (shim's HTTP client)", "(httpcore/_async/connection_pool.py"),
    (
        "httpx/httpcore/h11/anyio, other (shim's HTTP client)",
        ("(httpx/", "(httpcore/", "(h11/", "(anyio/"),
    ),
    ("kubedesk shim", "(kubedesk_spawner/"),
    ("aiohttp", "(aiohttp/"),
    ("SQLAlchemy (hub database)", "(sqlalchemy/"),
    ("tornado (HTTP server and client)", "(tornado/"),
    ("JupyterHub (handlers, users, auth, orm, proxy)", "(jupyterhub/"),
    ("json", "(json/"),
    ("asyncio", "(asyncio/"),
]


MARKERS = [
    ("KubedeskSpawner.poll", "KubedeskSpawner.poll "),
    ("KubedeskSpawner start (POST + progress stream)", "KubedeskSpawner._start "),
    ("KubeSpawner (any)", "(kubespawner/"),
    ("KubeSpawner reflector", "(kubespawner/reflector.py"),
    ("kubernetes_asyncio (any)", "(kubernetes_asyncio/"),
    ("httpx/httpcore (any)", "(httpcore/"),
    ("httpcore pool: _assign_requests_to_connections", "_assign_requests_to_connections"),
    ("SQLAlchemy (any)", "(sqlalchemy/"),
    ("JupyterHub proxy client (add/delete routes)", "(jupyterhub/proxy.py"),
    ("JupyterHub readiness check (wait_up)", "wait_for_http_server"),
    ("JupyterHub API handlers", "(jupyterhub/apihandlers/"),
]


def categorize(frames):
    for name, needle in CATEGORIES:
        needles = needle if isinstance(needle, tuple) else (needle,)
        for fr in frames:
            if any(n in fr for n in needles):
                return name
    return "other"


def pyspy_summary(path):
    """Category shares (a stack counts once, for the innermost category
    reached from the leaf) and the top self-time functions of a py-spy raw
    profile."""
    cats, leaf, total, idle = {}, {}, 0, 0
    for line in open(path):
        line = line.rstrip()
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        total += n
        frames_rev = list(reversed(frames))
        leaf_fn = frames_rev[0]
        if "select (selectors.py" in leaf_fn or ("_run_once" in leaf_fn and len(frames) < 6):
            idle += n
            continue
        c = categorize(frames_rev)
        cats[c] = cats.get(c, 0) + n
        short = re.sub(r"\(/.*/site-packages/", "(", leaf_fn)
        short = re.sub(r"\(/.*/lib/python3\.\d+/", "(", short)
        leaf[short] = leaf.get(short, 0) + n
    busy = total - idle
    incl = {k: 0 for k, _ in MARKERS}
    for line in open(path):
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack:
            continue
        for k, needle in MARKERS:
            if needle in stack:
                incl[k] += int(count)
    lines = [
        f"{total} samples, {100 * busy / max(total, 1):.0f}% busy (not waiting in select)",
        "",
        "| inclusive: samples with this in the stack | share of busy samples |",
        "|---|---|",
    ]
    for k, _ in MARKERS:
        if incl[k]:
            lines.append(f"| {k} | {100 * incl[k] / max(busy, 1):.0f}% |")
    lines += [
        "",
        "| exclusive: first category found in the stack (list order of CATEGORIES) | "
        "share of busy samples |",
        "|---|---|",
    ]
    for c, n in sorted(cats.items(), key=lambda x: -x[1]):
        lines.append(f"| {c} | {100 * n / max(busy, 1):.0f}% |")
    lines += ["", "| top functions by own time | share of busy samples |", "|---|---|"]
    for fn, n in sorted(leaf.items(), key=lambda x: -x[1])[:12]:
        lines.append(f"| `{fn[:110]}` | {100 * n / max(busy, 1):.1f}% |")
    return "\n".join(lines)


def pprof_summary(path):
    import subprocess

    try:
        out = subprocess.run(
            ["go", "tool", "pprof", "-top", "-nodecount=15", path],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        ).stdout
    except Exception as e:  # noqa: BLE001
        return f"(go tool pprof failed: {e})"
    keep = [
        line
        for line in out.splitlines()
        if line.strip() and not line.startswith(("File:", "Type:", "Build ID:"))
    ]
    return "```\n" + "\n".join(keep[:20]) + "\n```"


def profile_blocks(text, results):
    # Every py-spy profile, including ones taken by hand with
    # py-spy record --nonblocking --format raw -o PROFILES/<name>-hub.txt.
    for path in sorted(glob.glob(os.path.join(PROFILES, "*-hub.txt"))):
        name = os.path.basename(path)[: -len("-hub.txt")]
        text = replace_block(text, f"pyspy-{name}", pyspy_summary(path))
    for r in results.values():
        if r["scenario"] != "profile":
            continue
        base = os.path.join(PROFILES, r["name"])
        if os.path.exists(base + "-hub.txt"):
            text = replace_block(text, f"pyspy-{r['name']}", pyspy_summary(base + "-hub.txt"))
        if os.path.exists(base + "-service.pprof"):
            text = replace_block(text, f"pprof-{r['name']}", pprof_summary(base + "-service.pprof"))
    return text


def replace_block(text, name, body):
    begin, end = f"<!-- BEGIN GENERATED: {name} -->", f"<!-- END GENERATED: {name} -->"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    block = f"{begin}\n{body}\n{end}"
    if pattern.search(text):
        return pattern.sub(lambda _: block, text)
    return text + f"\n\n{block}\n"


def main():
    everything = load()
    if not everything:
        sys.exit(f"no results in {RESULTS}: run make bench-hub first")
    results = proper(everything)
    os.makedirs(DOCS, exist_ok=True)
    text = (
        open(REPORT).read()
        if os.path.exists(REPORT)
        else "# kubedesk vs KubeSpawner through a real JupyterHub\n"
    )
    for hub in HUBS:
        if any(r["hub"] == hub and r["scenario"] == "wave" for r in results.values()):
            text = replace_block(text, f"waves-{hub}", wave_rows(results, hub))
            text = replace_block(text, f"api-{hub}", api_rows(results, hub))
    text = replace_block(text, "service-api", service_api_rows(results))
    if any(r["scenario"] == "pvc" for r in results.values()):
        for hub in HUBS:
            if any(r["hub"] == hub and r["scenario"] == "pvc" for r in results.values()):
                text = replace_block(text, f"pvc-{hub}", wave_rows(results, hub, "pvc"))
    if any(r["scenario"] == "profile" for r in results.values()):
        for hub in HUBS:
            if any(r["hub"] == hub and r["scenario"] == "profile" for r in results.values()):
                text = replace_block(text, f"profile-{hub}", wave_rows(results, hub, "profile"))
    if len(everything) > len(results):
        text = replace_block(text, "variants", variant_rows(everything))
    text = profile_blocks(text, results)
    text = replace_block(text, "restart", restart_rows(results))
    text = replace_block(text, "kill", kill_rows(results))
    text = replace_block(text, "steady", steady_rows(results))
    with open(REPORT, "w") as f:
        f.write(text)
    plot(results)
    summary(everything)
    print(f"wrote {REPORT}, {DOCS}/spawn-wave.png, kubespawner-results.json")


if __name__ == "__main__":
    main()

"""PNG plots of a harness run (matplotlib, Agg backend: no display needed). Each function
takes the results dict and writes one file; a section that did not run is skipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def write_all(results: dict, out: Path) -> list[str]:
    written = []
    for fn in (latency_per_class, lv_cdf, qps_p99, hv1_chunks, scaling, busy_per_worker, gantt,
               shared_scans):
        try:
            name = fn(results, out)
        except Exception as e:  # noqa: BLE001 - one plot's failure must not lose the others
            results.setdefault("plot_errors", []).append(f"{fn.__name__}: {e!r}")
            continue
        if name:
            written.append(name)
    return written


def latency_per_class(r: dict, out: Path) -> str | None:
    alone = r.get("alone")
    if not alone:
        return None
    plt = _plt()
    sizes = list(alone)
    fig, axes = plt.subplots(1, len(sizes), figsize=(6 * len(sizes), 4.2), squeeze=False)
    for ax, size in zip(axes[0], sizes):
        classes = [c for c, v in alone[size].items() if v["ours"].get("n")]
        x = np.arange(len(classes))
        ours = [alone[size][c]["ours"]["median_ms"] for c in classes]
        base = [alone[size][c]["baseline"]["median_ms"] for c in classes]
        ax.bar(x - 0.2, ours, 0.4, label=f"Qserv-py ({r['meta']['workers']} workers)")
        ax.bar(x + 0.2, base, 0.4, label="one MariaDB")
        ax.set_xticks(x, classes)
        ax.set_yscale("log")
        ax.set_ylabel("median latency (ms, log)")
        cat = r["catalogs"].get(size, {})
        ax.set_title(f"{size}: {cat.get('objects', '?'):,} objects, {cat.get('sources', '?'):,} sources")
        ax.legend(fontsize=8)
    fig.suptitle("Latency per class, each class alone (measured)")
    return _save(fig, out, "latency_per_class.png")


def lv_cdf(r: dict, out: Path) -> str | None:
    mixed = r.get("mixed")
    if not mixed:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    alone = r.get("alone", {}).get(mixed.get("db", ""), {})
    single = [t for c, v in alone.items() if c.startswith("LV") for t in v["samples_ours_s"]]
    if single:
        s = np.sort(np.asarray(single) * 1000)
        ax.plot(s, np.arange(1, len(s) + 1) / len(s), "k--", label="LV one client at a time")
    for run in mixed["runs"]:
        s = np.sort(np.asarray(run["lv_samples_s"]) * 1000)
        if len(s):
            ax.plot(s, np.arange(1, len(s) + 1) / len(s), label=run["label"])
    ax.set_xscale("log")
    ax.set_xlabel("LV latency (ms, log)")
    ax.set_ylabel("fraction of LV queries")
    ax.set_title("LV latency CDF: alone and under mixed load (measured)")
    ax.legend(fontsize=8)
    return _save(fig, out, "lv_cdf.png")


def qps_p99(r: dict, out: Path) -> str | None:
    mixed = r.get("mixed")
    runs = [x for x in (mixed or {}).get("runs", []) if "lv_clients" in x]
    if not runs:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    n = [x["lv_clients"] for x in runs]
    ax.plot(n, [x["qps"] for x in runs], "o-", label="queries/s (all classes)")
    ax.set_xlabel("LV clients (with the HV scan clients running)")
    ax.set_ylabel("queries per second")
    ax2 = ax.twinx()
    ax2.plot(n, [x["lv"].get("p99_ms") for x in runs], "s--", color="C3", label="LV p99 (ms)")
    ax2.set_ylabel("LV p99 latency (ms)")
    fig.legend(loc="upper left", fontsize=8)
    ax.set_title("Mixed load: QPS and LV p99 against clients (measured)")
    return _save(fig, out, "qps_p99_vs_clients.png")


def hv1_chunks(r: dict, out: Path) -> str | None:
    fc = r.get("fixed")
    if not fc:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    pts = fc["hv1"]
    x = np.array([p["chunks"] for p in pts])
    box = [p for p in pts if p.get("in_fit", True)]
    ax.plot([p["chunks"] for p in box], [p.get("wall_min_ms", p["wall_ms"]) for p in box], "o",
            label="HV1 in a box, min wall (measured)")
    ax.plot([p["chunks"] for p in box], [p["wall_ms"] for p in box], ".", color="C0", alpha=0.5,
            label="HV1 in a box, median wall (measured)")
    ax.plot([p["chunks"] for p in pts if not p.get("in_fit", True)],
            [p["wall_ms"] for p in pts if not p.get("in_fit", True)], "D", color="C4",
            label="whole-table COUNT(*), median (not fitted)")
    ax.plot([p["chunks"] for p in box], [p["czar_cpu_ms"] for p in box], "^", color="C1",
            label="czar CPU, mean (measured)")
    for key, style, what in (("hv1_fit_wall_ms", "-", "min wall"), ("hv1_fit_czar_cpu_ms", ":", "czar CPU")):
        f = fc[key]
        if f["slope"] is not None:
            xs = np.linspace(0, x.max(), 20)
            ax.plot(xs, f["intercept"] + f["slope"] * xs, style,
                    label=f"fit {what}: {f['slope']:.2f} ms/chunk + {f['intercept']:.0f} ms")
    xs = np.linspace(0, x.max(), 20)
    ax.plot(xs, 2.6 * xs, "--", color="grey", label="original, 300 nodes: ~2.6 ms/chunk")
    ax.set_xlabel("chunks touched")
    ax.set_ylabel("ms")
    ax.set_title(f"HV1 COUNT(*) against chunks ({r['meta']['workers']} workers)")
    ax.legend(fontsize=7)
    return _save(fig, out, "hv1_vs_chunks.png")


def scaling(r: dict, out: Path) -> str | None:
    pts = r.get("scaling", {}).get("points")
    if not pts:
        return None
    plt = _plt()
    classes = list(pts[0]["classes"])
    fig, axes = plt.subplots(1, len(classes), figsize=(3.3 * len(classes), 3.8), squeeze=False)
    for ax, c in zip(axes[0], classes):
        w = [p["workers"] for p in pts]
        ax.plot(w, [p["classes"][c]["measured_ms"] for p in pts], "o-",
                label="measured (this 2-core host)")
        ax.plot(w, [p["classes"][c]["projected_ms"] for p in pts], "s:",
                label="projected, CPU only: 1 host per worker")
        if "projected_calibrated_ms" in pts[0]["classes"][c]:
            ax.plot(w, [p["classes"][c]["projected_calibrated_ms"] for p in pts], "^--",
                    label="projected, calibrated on 1 worker")
        ax.set_xscale("log", base=2)
        ax.set_xticks(w, [str(v) for v in w])
        ax.set_title(c)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("workers")
    axes[0][0].set_ylabel("ms")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Scaling: measured on one machine vs projected to N hosts "
                 "(busiest worker's CPU + czar's CPU)")
    return _save(fig, out, "scaling.png")


def busy_per_worker(r: dict, out: Path) -> str | None:
    pts = r.get("scaling", {}).get("points")
    if not pts:
        return None
    plt = _plt()
    p = max(pts, key=lambda x: x["workers"])
    classes = [c for c in ("HV2", "HV4", "HV1") if c in p["classes"]]
    fig, ax = plt.subplots(figsize=(7, 4))
    workers = list(p["classes"][classes[0]]["busy_per_worker_ms"])
    x = np.arange(len(workers))
    width = 0.8 / len(classes)
    for i, c in enumerate(classes):
        ax.bar(x + i * width, [p["classes"][c]["busy_per_worker_ms"][w] for w in workers], width,
               label=c)
    ax.set_xticks(x + 0.4 - width / 2, [w.replace("worker", "w") for w in workers])
    ax.set_ylabel("CPU ms (daemon + its MariaDB)")
    ax.set_title(f"Per-worker busy time of one query, {p['workers']} workers (measured)")
    ax.legend(fontsize=8)
    return _save(fig, out, "busy_per_worker.png")


def gantt(r: dict, out: Path) -> str | None:
    g = r.get("gantt")
    if not g or not g.get("jobs"):
        return None
    plt = _plt()
    jobs = sorted(g["jobs"], key=lambda j: (j["worker"], j["start"]))
    workers = sorted({j["worker"] for j in jobs}, key=lambda w: int("".join(filter(str.isdigit, w)) or 0))
    y = {w: i for i, w in enumerate(workers)}
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(workers) + 1.5))
    for j in jobs:
        ax.barh(y[j["worker"]], j["start"] - j["queued"], left=j["queued"], color="lightgrey")
        ax.barh(y[j["worker"]], j["end"] - j["start"], left=j["start"], color="C0")
        ax.text(j["end"], y[j["worker"]], f" {j['chunks']}", va="center", fontsize=6)
    ax.axvline(g["wall_s"], color="C3", linestyle="--", label=f"client got all rows ({g['wall_s']:.2f} s)")
    ax.set_yticks(range(len(workers)), workers)
    ax.set_xlim(left=0)
    ax.set_xlabel("seconds since the query was sent")
    ax.set_title("One HV2: its jobs per worker (grey: queued for a slot; blue: running; label: chunks)")
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, out, "gantt_hv2.png")


def shared_scans(r: dict, out: Path) -> str | None:
    s = r.get("shared")
    if not s:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ks = [x["K"] for x in s["k"]]
    ax.plot(ks, [x["ours_s"] for x in s["k"]], "o-", label="Qserv-py: K concurrent HV2")
    ax.plot(ks, [k * s["one_scan_s"]["ours"] for k in ks], ":", label="Qserv-py: K x one HV2")
    ax.plot(ks, [x["base_s"] for x in s["k"]], "s-", label="one MariaDB: K concurrent")
    ax.plot(ks, [k * s["one_scan_s"]["base"] for k in ks], ":", label="one MariaDB: K x one")
    ax.set_xlabel("K")
    ax.set_ylabel("completion time of all K (s)")
    ax.set_title("Shared scans (measured)")
    ax.legend(fontsize=8)
    return _save(fig, out, "shared_scans.png")


def _save(fig, out: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out / name, dpi=110)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return name

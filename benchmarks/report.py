"""The Markdown report of a harness run (report.md next to results.json and the PNGs), and the
headline ratios it opens with."""

from __future__ import annotations

from pathlib import Path


def _table(cols: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in r) + " |" for r in rows]
    return lines + [""]


def headlines(r: dict) -> list[str]:
    out = []
    alone = r.get("alone", {})
    for size, classes in alone.items():
        ratios = {c: v["ratio_median"] for c, v in classes.items() if v["ratio_median"]}
        if ratios:
            out.append(f"{size}: median latency ours/one MariaDB per class: "
                       + ", ".join(f"{c} {x}x" for c, x in ratios.items()))
        wrong = sum(v["wrong"] for v in classes.values())
        answers = sum(v["answers"] for v in classes.values())
        out.append(f"{size}: {answers - wrong}/{answers} answers equal to the baseline's"
                   + (f" ({sum(v['n_errors'] for v in classes.values())} errors)"
                      if any(v["n_errors"] for v in classes.values()) else ""))
    for db, x in r.get("load", {}).items():
        p, i = x["partition"], x.get("ingest")
        if i:
            out.append(f"{db} ({p['rows']:,} rows): qserv partition {p['seconds']} s "
                       f"({p['vs_floor']}x reading the CSV with pyarrow), qserv ingest into "
                       f"{r['meta']['workers']} workers {i['seconds']} s ({i['vs_floor']}x LOAD "
                       "DATA into one MariaDB)")
    fc = r.get("fixed")
    if fc and fc["hv1_fit_wall_ms"]["slope"] is not None:
        out.append(f"HV1 fixed cost: {fc['hv1_fit_wall_ms']['slope']:.2f} ms per chunk (min wall) "
                   f"({fc['hv1_fit_czar_cpu_ms']['slope']:.2f} ms czar CPU per chunk); the original "
                   "at 300 nodes: ~2.6 ms per chunk")
    mixed = r.get("mixed")
    if mixed:
        alone_run = mixed["runs"][0]
        loaded = mixed["runs"][-1]
        out.append(f"LV p99 alone {alone_run['lv'].get('p99_ms')} ms, under mixed load "
                   f"({loaded['label']}) {loaded['lv'].get('p99_ms')} ms; {loaded['qps']} q/s")
    sh = r.get("shared")
    if sh and sh["k"]:
        k = sh["k"][-1]
        out.append(f"shared scans: {k['K']} concurrent HV2 take {k['ours_vs_k_times_one']}x the "
                   f"time of {k['K']} single ones (one MariaDB: {k['base_vs_k_times_one']}x)")
    pts = r.get("scaling", {}).get("points")
    if pts:
        first, last = pts[0], pts[-1]
        for c in ("HV2", "HV4"):
            if c in first["classes"]:
                a, b = first["classes"][c], last["classes"][c]
                pa = a.get("projected_calibrated_ms", a["projected_ms"])
                pb = b.get("projected_calibrated_ms", b["projected_ms"])
                out.append(f"{c} {first['workers']} -> {last['workers']} workers: measured on this "
                           f"machine {a['measured_ms']} -> {b['measured_ms']} ms; projected to one "
                           f"host per worker {pa} -> {pb} ms ({round(pa / pb, 1) if pb else '?'}x)")
    return out


def write(r: dict, out: Path, plots: list[str]) -> Path:
    m = r["meta"]
    L = [f"# Benchmark harness: {m['workers']} workers{' (quick)' if m.get('quick') else ''}", "",
         f"`{m['command']}` on {m['date']}, git {m['git_commit']}, seed {m['seed']}; "
         f"{m['cpu_count']} CPUs, {m['memory_gb']} GB; load average at start {m['load_avg_start']}, "
         f"at end {m.get('load_avg_end')}; took {m.get('seconds')} s. Versions: "
         + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".", "",
         "Ours = Qserv-py (czar + workers, each with its own mariadbd, all on this one machine); "
         "baseline = one plain MariaDB holding the same rows (same CSV, partitioned by the same "
         "code, overlap left out). Each timing is a client's wall time to fetch every row. "
         "The machine is shared with other work: compare the two sides of one run, "
         "not runs of different days.", "", "## Headlines", ""]
    L += [f"- {h}" for h in headlines(r)] + [""]
    L += ["## Data", ""]
    L += _table(["database", "objects", "sources", "CSV MB", "chunk order"],
                [[c["name"], f"{c['objects']:,}", f"{c['sources']:,}", c["csv_mb"], c["chunk_order"]]
                 for c in r["catalogs"].values()])
    if r.get("load"):
        L += ["## Partition and ingest throughput (against their floors)", "",
              "Partition floor: reading the same CSV with pyarrow's multithreaded reader. "
              "Ingest floor: LOAD DATA of the partitioned rows (no overlap) into one MariaDB.", ""]
        rows = []
        for db, x in r["load"].items():
            p, i = x["partition"], x.get("ingest", {})
            rows.append([db, p["seconds"], p["floor_read_csv_s"], p["vs_floor"], p["rows_per_s"],
                         p["mb_per_s"], p["peak_rss_mb"], i.get("seconds"), x["baseline_load"]["seconds"],
                         i.get("vs_floor"), i.get("rows_per_s"), i.get("peak_rss_mb")])
        L += _table(["db", "partition s", "floor s", "x floor", "rows/s", "MB/s", "peak MB",
                     "ingest s", "floor s", "x floor", "rows/s", "ingest client peak MB"], rows)
    for size, classes in r.get("alone", {}).items():
        L += [f"## Each class alone: {size}", "",
              f"{r['meta']['repeat']} draws per class, each run on both sides (order alternating); "
              "every answer compared with the baseline's.", ""]
        L += _table(["class", "what", "ours min", "ours median", "ours p95", "base min",
                     "base median", "base p95", "ratio (median)", "rows", "bytes (as text)", "wrong",
                     "errors"],
                    [[c, v["title"], v["ours"].get("min_ms"), v["ours"].get("median_ms"),
                      v["ours"].get("p95_ms"), v["baseline"].get("min_ms"),
                      v["baseline"].get("median_ms"), v["baseline"].get("p95_ms"),
                      v["ratio_median"], v["rows_median"], v["bytes_median"],
                      f"{v['wrong']}/{v['answers']}", v["n_errors"]] for c, v in classes.items()])
        for c, v in classes.items():
            for e in v["errors"] + v["wrong_examples"]:
                L.append(f"- {c}: {e}")
        L.append("")
    if r.get("mixed"):
        mx = r["mixed"]
        L += ["## Mixed closed-loop load", "",
              f"Think time {mx['think_s']} s (exponential). LV latency over all LV classes.", ""]
        L += _table(["run", "clients", "LV p50", "LV p95", "LV p99", "LV q/s", "all q/s", "errors"],
                    [[x["label"], ", ".join(f"{k} {v}" for k, v in x["clients"].items()),
                      x["lv"].get("median_ms"), x["lv"].get("p95_ms"), x["lv"].get("p99_ms"),
                      x["lv"]["qps"], x["qps"], sum(c["errors"] for c in x["classes"].values())]
                     for x in mx["runs"]])
        for x in mx["runs"]:
            for e in x["error_examples"]:
                L.append(f"- {x['label']}: {e}")
        L += _table(["run", "class", "answered", "median ms", "p99 ms", "q/s"],
                    [[x["label"], c, v["answered"], v.get("median_ms"), v.get("p99_ms"), v["qps"]]
                     for x in mx["runs"] for c, v in x["classes"].items()])
    if r.get("shared"):
        s = r["shared"]
        L += ["## Shared scans (K concurrent HV2)", "",
              f"One HV2 alone: ours {s['one_scan_s']['ours']} s, baseline {s['one_scan_s']['base']} s. "
              "Below 1.0x: K together finish sooner than K one after the other.", ""]
        L += _table(["K", "ours s", "ours / (K x one)", "base s", "base / (K x one)", "errors"],
                    [[x["K"], x["ours_s"], x["ours_vs_k_times_one"], x["base_s"],
                      x["base_vs_k_times_one"], x["ours_errors"] + x["base_errors"]] for x in s["k"]])
    if r.get("fixed"):
        fc = r["fixed"]
        L += ["## Fixed costs", "", "HV1 (`COUNT(*)`) over boxes of growing size around RA 0 and "
              "over the whole table; czar CPU = the czar daemon and its MariaDB.", ""]
        L += _table(["chunks", "min wall ms", "median wall ms", "czar CPU ms (mean)", "fitted", "SQL"],
                    [[p["chunks"], p.get("wall_min_ms"), p["wall_ms"], p["czar_cpu_ms"],
                      "yes" if p.get("in_fit", True) else "no", f"`{p['sql']}`"] for p in fc["hv1"]])
        fw, fcpu = fc["hv1_fit_wall_ms"], fc["hv1_fit_czar_cpu_ms"]
        fm = fc.get("hv1_fit_wall_median_ms", {})
        if fw["slope"] is not None:
            L += [f"Fit over the boxes (one SQL shape): min wall = {fw['intercept']:.1f} ms + "
                  f"{fw['slope']:.3f} ms x chunks"
                  + (f" (medians: {fm['intercept']:.1f} ms + {fm['slope']:.3f} ms x chunks)"
                     if fm.get("slope") is not None else "")
                  + f"; czar CPU = {fcpu['intercept']:.1f} ms + {fcpu['slope']:.3f} ms x chunks "
                  "(the original's 300-node test implies ~2.6 ms per chunk).", ""]
        L += ["Merge cost per row (an ORDER BY result: chunk rows loaded into the czar's result "
              "table, sorted there, sent):", ""]
        L += _table(["rows", "wall ms", "czar CPU ms", "baseline ms"],
                    [[p["rows"], p["wall_ms"], p["czar_cpu_ms"], p["baseline_ms"]] for p in fc["merge"]])
        mw, mc = fc["merge_fit_wall_ms"], fc["merge_fit_czar_cpu_ms"]
        if mw["slope"] is not None:
            L += [f"Fit: {1000 * mw['slope']:.2f} us per row wall, {1000 * mc['slope']:.2f} us czar "
                  "CPU per row.", ""]
    if r.get("scaling", {}).get("points"):
        sc = r["scaling"]
        L += ["## Scaling (measured on this machine, and projected to one host per worker)", "",
              f"Database {sc['db']}. Busy time = CPU seconds of a worker's daemon and its MariaDB "
              "during the query. Projected makespan on N hosts = the busiest worker + the czar's "
              "CPU (dispatch and merge). On this 2-core machine, measured time cannot fall "
              "much below the sum of all workers' CPU; at 1 and 2 workers each process has about "
              "a core, so measured and projected should agree there (validation column).", ""]
        rows = []
        for p in sc["points"]:
            for c, v in p["classes"].items():
                rows.append([p["workers"], c, v["measured_ms"], v["projected_ms"],
                             v.get("projected_calibrated_ms"),
                             round(v["measured_ms"] / v["projected_ms"], 2) if v["projected_ms"] else "",
                             v["busy_sum_ms"], v["czar_cpu_ms"],
                             max(v["busy_per_worker_ms"].values())])
        L += _table(["workers", "class", "measured ms", "projected ms (CPU only)",
                     "projected ms (calibrated)", "measured/projected", "all workers' CPU ms",
                     "czar CPU ms", "busiest worker ms"], rows)
        cal = sc.get("calibration", {})
        if cal.get("calibrated_on"):
            L += ["Calibrated projection: the CPU-only projection times the 1-worker point's "
                  "measured / projected (the share of a query's time spent outside CPU: round "
                  "trips, waits, and here other engineers' work on the same 2 cores). "
                  "Validation at 2 workers (measured / calibrated projection): "
                  + (", ".join(f"{c} {v['ratio']}" for c, v in cal["validation"].items())
                     or "no 2-worker point") + ".", ""]
    if r.get("gantt"):
        g = r["gantt"]
        L += ["## One HV2's jobs", "", f"`{g['sql']}`: {g['rows']} rows in {g['wall_s']} s, "
              f"{len(g['jobs'])} jobs. {g['hook']}. A job is the dispatch unit: up to "
              "`chunks_per_job` chunks of one worker in one call.", ""]
    if r.get("memory"):
        L += ["## Peak memory (VmHWM / ru_maxrss) of every process", ""]
        L += _table(["process", "peak MB"], [[k, v] for k, v in r["memory"].items()])
    if r.get("section_errors"):
        L += ["## Sections that failed", ""] + [f"- {k}: {v}" for k, v in r["section_errors"].items()] + [""]
    if r.get("section_seconds"):
        L += ["Section times (s): " + ", ".join(f"{k} {v}" for k, v in r["section_seconds"].items()), ""]
    if plots:
        L += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    path = out / "report.md"
    path.write_text("\n".join(L) + "\n")
    return path

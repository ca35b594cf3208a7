"""The measurements, one function per section of the report. Each takes the running systems
(`Systems`) and returns plain data (dicts and lists) that report.py and plots.py read.

Ours and the baseline always run side by side in one run, alternating (the machine's load
comes and goes: back-to-back series would put different moments on each side).
"""

from __future__ import annotations

import multiprocessing as mp
import random
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks import measure, workload
from benchmarks.catalog import Catalog
from benchmarks.procstats import CpuMeter
from benchmarks.stack import Baseline, Cluster


@dataclass
class Systems:
    cluster: Cluster
    baseline: Baseline
    catalogs: dict[str, Catalog]
    classes: dict[str, workload.QueryClass]
    seed: int
    conns: dict = field(default_factory=dict)

    def ours(self, db: str, fresh: bool = False):
        c = self.cluster.config
        if fresh:
            return measure.connect(c.frontend_port, c.user, c.password, db)
        key = ("ours", db)
        if key not in self.conns:
            self.conns[key] = measure.connect(c.frontend_port, c.user, c.password, db)
        return self.conns[key]

    def base(self, db: str, fresh: bool = False):
        if fresh:
            return measure.connect(self.baseline.server.port, "root", "", db)
        key = ("base", db)
        if key not in self.conns:
            self.conns[key] = measure.connect(self.baseline.server.port, "root", "", db)
        return self.conns[key]

    def close(self) -> None:
        for c in self.conns.values():
            try:
                c.close()
            except Exception:  # noqa: BLE001 - a server already gone
                pass
        self.conns.clear()

    def rng(self, *salt) -> np.random.Generator:
        return np.random.default_rng([self.seed, *[hash(s) & 0xFFFF for s in map(str, salt)]])


# ---- 1. each class alone -----------------------------------------------------------------
def classes_alone(sysm: Systems, db: str, repeat: int, echo=print) -> dict:
    """Every class `repeat` times, each time a new draw run on both sides (order alternating);
    every answer compared with the baseline's."""
    cat = sysm.catalogs[db]
    out = {}
    for name, cls in sysm.classes.items():
        rng = np.random.default_rng([sysm.seed, int(name[2:]), ord(name[0])])
        ours_t, base_t, rows, nbytes, wrong, errors, examples = [], [], [], [], 0, [], []
        for r in range(repeat):
            q = workload.draw(cls, rng, cat.objects)
            pair = [("ours", sysm.ours(db), q.sql), ("base", sysm.base(db), q.baseline)]
            if r % 2:
                pair.reverse()
            got = {side: measure.fetch(conn, sql) for side, conn, sql in pair}
            a, b = got["ours"], got["base"]
            if a.error or b.error:
                errors.append(f"ours: {a.error or 'ok'}; baseline: {b.error or 'ok'}; SQL: {q.sql}")
                continue
            ours_t.append(a.seconds)
            base_t.append(b.seconds)
            rows.append(len(a.rows))
            nbytes.append(a.nbytes)
            if not measure.same(a.rows, b.rows):
                wrong += 1
                ca, cb = measure.canonical(a.rows), measure.canonical(b.rows)
                diff = [(x, y) for x, y in zip(ca, cb) if x != y][:2]
                examples.append(f"{len(a.rows)} rows vs {len(b.rows)} (first differences, ours "
                                f"vs baseline: {diff}): {q.sql}")
        o, b = measure.stats(ours_t), measure.stats(base_t)
        ratio = (round(o["median_ms"] / b["median_ms"], 2)
                 if ours_t and b.get("median_ms") else None)
        out[name] = {"title": cls.title, "ours": o, "baseline": b, "ratio_median": ratio,
                     "rows_median": int(statistics.median(rows)) if rows else None,
                     "bytes_median": int(statistics.median(nbytes)) if nbytes else None,
                     "answers": len(ours_t), "wrong": wrong, "errors": errors[:3],
                     "n_errors": len(errors), "wrong_examples": examples[:3],
                     "samples_ours_s": [round(t, 5) for t in ours_t],
                     "samples_baseline_s": [round(t, 5) for t in base_t]}
        echo(f"  {db} {name}: ours {o.get('median_ms')} ms, baseline {b.get('median_ms')} ms, "
             f"ratio {ratio}, rows {out[name]['rows_median']}, wrong {wrong}, errors {len(errors)}")
    return out


# ---- 2. mixed closed-loop load -------------------------------------------------------------
def _client_proc(port, user, password, db, plan, pools, think, begin, deadline, seed, out):
    """Closed-loop clients as threads in this process: plan = [(class, k)]."""
    records, lock = [], threading.Lock()

    def client(cls: str, k: int) -> None:
        rnd = random.Random(seed * 7919 + k)
        mine, conn = [], None
        try:                       # connect before the clock starts: logins are not measured
            conn = measure.connect(port, user, password, db)
        except Exception as e:  # noqa: BLE001
            mine.append((cls, time.time(), 0.0, f"connect {e}"))
        time.sleep(max(0.0, begin - time.time()) + rnd.uniform(0, think[cls]))  # no lockstep
        while time.time() < deadline:
            if conn is None:
                try:
                    conn = measure.connect(port, user, password, db)
                except Exception as e:  # noqa: BLE001
                    mine.append((cls, time.time(), 0.0, f"connect {e}"))
                    time.sleep(0.5)
                    continue
            a = measure.fetch(conn, rnd.choice(pools[cls]))
            if time.time() < deadline:
                mine.append((cls, time.time(), a.seconds, a.error or "ok"))
            if a.error:
                conn.close()
                conn = None
            time.sleep(rnd.expovariate(1 / think[cls]) if think[cls] else 0)
        if conn is not None:
            conn.close()
        with lock:
            records.extend(mine)

    ts = [threading.Thread(target=client, args=(c, k)) for c, k in plan]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put(records)


def closed_loop(port, user, password, db, clients: dict[str, int], pools, think: dict[str, float],
                seconds: float, procs: int = 4) -> dict:
    plan = [(c, k) for c, n in clients.items() for k in range(n)]
    random.Random(1).shuffle(plan)
    parts = [plan[i::procs] for i in range(procs)]
    begin = time.time() + 2.0 + 0.05 * len(plan)      # time to start and log in
    deadline = begin + seconds
    q: mp.Queue = mp.Queue()
    ps = [mp.Process(target=_client_proc, args=(port, user, password, db, part, pools,
                                                 think, begin, deadline, i, q))
          for i, part in enumerate(parts) if part]
    for p in ps:
        p.start()
    records = [r for _ in ps for r in q.get()]
    for p in ps:
        p.join()
    by_class = {}
    for cls in clients:
        ok = [dt for c, _, dt, o in records if c == cls and o == "ok"]
        by_class[cls] = {**measure.stats(ok), "answered": len(ok),
                         "errors": sum(1 for c, _, _, o in records if c == cls and o != "ok"),
                         "qps": round(len(ok) / seconds, 2)}
    lv = [dt for c, _, dt, o in records if c.startswith("LV") and o == "ok"]
    errors = sorted({o for *_, o in records if o != "ok"})[:5]
    return {"clients": clients, "seconds": seconds, "classes": by_class,
            "lv": {**measure.stats(lv), "qps": round(len(lv) / seconds, 2)},
            "qps": round(sum(1 for r in records if r[3] == "ok") / seconds, 2),
            "error_examples": errors, "lv_samples_s": [round(x, 5) for x in lv]}


def mixed_load(sysm: Systems, db: str, mixed: dict, seconds: float, scales: list[float],
               echo=print) -> dict:
    """LV clients alone, then LV clients with the HV scans running, at several LV client
    counts (the HV clients stay as configured); p50/p95/p99 of LV and queries per second."""
    cat = sysm.catalogs[db]
    clients = {c: n for c, n in mixed["clients"].items() if c in sysm.classes}
    pools = {}
    for name in clients:
        rng = np.random.default_rng([sysm.seed, 99, int(name[2:]), ord(name[0])])
        pools[name] = [workload.draw(sysm.classes[name], rng, cat.objects).sql
                       for _ in range(200 if name.startswith("LV") else 20)]
    think = {c: float(mixed["think_s"][c[:2]]) for c in clients}
    c = sysm.cluster.config
    runs = []
    lv_full = {k: v for k, v in clients.items() if k.startswith("LV")}
    hv = {k: v for k, v in clients.items() if k.startswith("HV")}
    r = closed_loop(c.frontend_port, c.user, c.password, db, lv_full, pools, think, seconds)
    r["label"] = "LV alone"
    runs.append(r)
    echo(f"  LV alone ({sum(lv_full.values())} clients): p50 {r['lv'].get('median_ms')} ms, "
         f"p99 {r['lv'].get('p99_ms')} ms, {r['qps']} q/s")
    for s in scales:
        lv = {k: max(1, round(v * s)) for k, v in lv_full.items()}
        r = closed_loop(c.frontend_port, c.user, c.password, db, {**lv, **hv}, pools, think, seconds)
        r["label"] = f"mixed, {sum(lv.values())} LV clients"
        r["lv_clients"] = sum(lv.values())
        runs.append(r)
        echo(f"  mixed ({sum(lv.values())} LV + {sum(hv.values())} HV clients): LV p50 "
             f"{r['lv'].get('median_ms')} ms, p99 {r['lv'].get('p99_ms')} ms, {r['qps']} q/s, "
             f"errors {sum(x['errors'] for x in r['classes'].values())}")
    return {"db": db, "think_s": mixed["think_s"], "runs": runs}


# ---- 3. shared scans -----------------------------------------------------------------------
def _concurrent(connect, sqls: list[str]) -> tuple[float, list[str]]:
    conns = [connect() for _ in sqls]
    errors, barrier = [], threading.Barrier(len(sqls) + 1)

    def run(conn, sql):
        barrier.wait()
        a = measure.fetch(conn, sql)
        if a.error:
            errors.append(a.error)
    ts = [threading.Thread(target=run, args=(c, s)) for c, s in zip(conns, sqls)]
    for t in ts:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    dt = time.perf_counter() - t0
    for c in conns:
        c.close()
    return dt, errors


def shared_scans(sysm: Systems, db: str, ks: list[int], echo=print) -> dict:
    """Completion time of K concurrent HV2 scans (different colour cuts) against K times the
    time of one, on both sides."""
    cat, cls = sysm.catalogs[db], sysm.classes["HV2"]
    rng = np.random.default_rng([sysm.seed, 2024])
    queries = [workload.draw(cls, rng, cat.objects) for _ in range(max(ks))]
    one = {"ours": [], "base": []}
    for i in range(3):
        one["ours"].append(measure.fetch(sysm.ours(db), queries[i % len(queries)].sql).seconds)
        one["base"].append(measure.fetch(sysm.base(db), queries[i % len(queries)].baseline).seconds)
    t1 = {k: statistics.median(v) for k, v in one.items()}
    out = {"one_scan_s": {k: round(v, 4) for k, v in t1.items()}, "k": []}
    for k in ks:
        row = {"K": k}
        for side in ("ours", "base"):
            connect = (lambda: sysm.ours(db, fresh=True)) if side == "ours" else \
                (lambda: sysm.base(db, fresh=True))
            sqls = [q.sql if side == "ours" else q.baseline for q in queries[:k]]
            dt, errors = _concurrent(connect, sqls)
            row[f"{side}_s"] = round(dt, 3)
            row[f"{side}_vs_k_times_one"] = round(dt / (k * t1[side]), 2)
            row[f"{side}_errors"] = len(errors)
        out["k"].append(row)
        echo(f"  K={k}: ours {row['ours_s']} s ({row['ours_vs_k_times_one']}x K x one), baseline "
             f"{row['base_s']} s ({row['base_vs_k_times_one']}x)")
    return out


# ---- 4. fixed costs ------------------------------------------------------------------------
def _timed_czar(sysm: Systems, conn, sql: str, repeat: int) -> tuple[float, float, int, float]:
    """Median wall seconds, mean czar CPU seconds (daemon + its MariaDB; CPU comes in 10 ms
    clock ticks: the mean over runs is unbiased, a median is not), rows, and min wall."""
    meter = CpuMeter({"czar": sysm.cluster.czar_pids()})
    walls, cpus, n = [], [], 0
    for _ in range(repeat):
        meter.start()
        a = measure.fetch(conn, sql)
        cpus.append(meter.stop()["czar"])
        walls.append(a.seconds)
        n = len(a.rows)
        if a.error:
            raise RuntimeError(f"{sql}: {a.error}")
    return statistics.median(walls), statistics.fmean(cpus), n, min(walls)


def fit(xs, ys) -> dict:
    if len(set(xs)) < 2:
        return {"slope": None, "intercept": None}
    slope, intercept = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    return {"slope": float(slope), "intercept": float(intercept)}


def fixed_costs(sysm: Systems, db: str, repeat: int, echo=print) -> dict:
    """HV1 (COUNT(*)) over growing boxes around RA 0 (more and more chunks), fitted to ms per
    chunk, with the czar's CPU per chunk; and the merge cost per row (an ORDER BY result,
    which the czar merges in its MariaDB) against the number of rows."""
    conn = sysm.ours(db)
    points = []
    for side in (0.5, 2, 5, 10, 20, 35, 50):
        h = side / 2
        sql = (f"SELECT COUNT(*) FROM Object WHERE qserv_areaspec_box({360 - h:.4f}, "
               f"{-min(h, 12.0):.4f}, {h:.4f}, {min(h, 12.0):.4f})")
        points.append(sql)
    points.append("SELECT COUNT(*) FROM Object")
    hv1 = []
    for sql in points:
        chunks = measure.explain_chunks(conn, sql)
        wall, cpu, _, best = _timed_czar(sysm, conn, sql, repeat)
        hv1.append({"sql": sql, "chunks": chunks, "wall_ms": round(1000 * wall, 2),
                    "wall_min_ms": round(1000 * best, 2), "czar_cpu_ms": round(1000 * cpu, 2),
                    "in_fit": "areaspec" in sql})
    # The fit takes the boxes only (one SQL shape); the whole-table COUNT(*) is another plan
    # (no per-row filter) and is shown beside it. Min over the runs: on a shared machine the
    # fastest run is the one least disturbed by the others' work.
    boxes = [p for p in hv1 if p["in_fit"]]
    f_wall = fit([p["chunks"] for p in boxes], [p["wall_min_ms"] for p in boxes])
    f_med = fit([p["chunks"] for p in boxes], [p["wall_ms"] for p in boxes])
    f_cpu = fit([p["chunks"] for p in boxes], [p["czar_cpu_ms"] for p in boxes])
    echo(f"  HV1: {f_wall['slope'] and round(f_wall['slope'], 3)} ms per chunk (min wall), "
         f"{f_cpu['slope'] and round(f_cpu['slope'], 3)} ms czar CPU per chunk")
    merge = []
    n = sysm.catalogs[db].objects
    for m in (1000, 100, 20, 5, 2):
        sql = (f"SELECT objectId, r_mag FROM Object WHERE (objectId DIV 7) % {m} = 0 "
               f"ORDER BY objectId")
        if m == 2 and n > 400_000:
            continue
        wall, cpu, rows, _ = _timed_czar(sysm, conn, sql, max(1, repeat // 2))
        base = measure.fetch(sysm.base(db), sql).seconds
        merge.append({"sql": sql, "rows": rows, "wall_ms": round(1000 * wall, 2),
                      "czar_cpu_ms": round(1000 * cpu, 2), "baseline_ms": round(1000 * base, 2)})
    m_wall = fit([p["rows"] for p in merge], [p["wall_ms"] for p in merge])
    m_cpu = fit([p["rows"] for p in merge], [p["czar_cpu_ms"] for p in merge])
    echo(f"  merge: {m_wall['slope'] and round(1000 * m_wall['slope'], 3)} us per row (wall), "
         f"{m_cpu['slope'] and round(1000 * m_cpu['slope'], 3)} us czar CPU per row")
    return {"hv1": hv1, "hv1_fit_wall_ms": f_wall, "hv1_fit_wall_median_ms": f_med,
            "hv1_fit_czar_cpu_ms": f_cpu,
            "merge": merge, "merge_fit_wall_ms": m_wall, "merge_fit_czar_cpu_ms": m_cpu,
            "original_ms_per_chunk": 2.6}


# ---- 5. one HV2's jobs, for the Gantt chart ------------------------------------------------
def gantt(sysm: Systems, db: str) -> dict:
    """Run one HV2 and read its jobs' start/end from the czar's log (the `job timing` lines
    czar/dispatch.py writes: worker, chunks, queued, started, ended)."""
    q = workload.draw(sysm.classes["HV2"], np.random.default_rng([sysm.seed, 7]),
                      sysm.catalogs[db].objects)
    sql = q.sql + " ORDER BY objectId"   # merged, not streamed: the merge path logs its jobs
    log = sysm.cluster.config.log_file("czar")
    t0 = time.time()
    a = measure.fetch(sysm.ours(db), sql)
    t1 = time.time()
    time.sleep(0.3)      # the log is flushed per line, but give the czar a moment
    jobs = []
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            if "job timing" not in line:
                continue
            kv = dict(part.split("=", 1) for part in line.split("job timing", 1)[1].split()
                      if "=" in part)
            try:
                queued, start, end = float(kv["queued"]), float(kv["start"]), float(kv["end"])
            except (KeyError, ValueError):
                continue
            if queued >= t0 - 0.05 and end <= t1 + 0.05:
                jobs.append({"worker": kv.get("worker"), "chunks": int(kv.get("chunks", 0)),
                             "queued": round(queued - t0, 4), "start": round(start - t0, 4),
                             "end": round(end - t0, 4), "bytes": int(kv.get("bytes", 0))})
    return {"sql": sql, "wall_s": round(a.seconds, 4), "rows": len(a.rows), "jobs": jobs,
            "hook": "czar/dispatch.py logs one `job timing` line per job of a merged query (a "
                    "hook added for this harness; the streamed path, which a plain HV2 takes, "
                    "is not instrumented, hence the ORDER BY)"}


# ---- 6. scaling: one cluster size ----------------------------------------------------------
SCALING_CLASSES = ("HV1", "HV2", "HV4", "LV1", "LV3")


def scaling_point(sysm: Systems, db: str, repeat: int, echo=print) -> dict:
    """Wall time of a few classes at this cluster size, each worker's busy time (CPU of its
    daemon and its MariaDB) and the czar's, and the projection to one host per worker:
    makespan = the busiest worker + the czar's dispatch and merge."""
    cl = sysm.cluster
    groups = {**cl.worker_pids(), "czar": cl.czar_pids()}
    meter = CpuMeter(groups)
    conn = sysm.ours(db)
    out = {"workers": cl.workers, "classes": {}}
    cat = sysm.catalogs[db]
    for name in [c for c in SCALING_CLASSES if c in sysm.classes]:
        rng = np.random.default_rng([sysm.seed, 5, int(name[2:]), ord(name[0])])
        walls, busy_runs, czar = [], [], []
        for _ in range(repeat):
            q = workload.draw(sysm.classes[name], rng, cat.objects)
            meter.start()
            a = measure.fetch(conn, q.sql)
            used = meter.stop()
            if a.error:
                raise RuntimeError(f"{q.sql}: {a.error}")
            busy = {w: used[w] for w in groups if w != "czar"}
            walls.append(a.seconds)
            czar.append(used["czar"])
            busy_runs.append(busy)
        # CPU comes in 10 ms clock ticks: per-worker means over the runs, not one run's
        mean_busy = {w: statistics.fmean(b[w] for b in busy_runs) for w in busy_runs[0]}
        out["classes"][name] = {
            "measured_ms": round(1000 * statistics.median(walls), 2),
            "measured_mean_ms": round(1000 * statistics.fmean(walls), 2),
            "projected_ms": round(1000 * (max(mean_busy.values()) + statistics.fmean(czar)), 2),
            "czar_cpu_ms": round(1000 * statistics.fmean(czar), 2),
            "busy_sum_ms": round(1000 * sum(mean_busy.values()), 2),
            "busy_per_worker_ms": {w: round(1000 * v, 2) for w, v in mean_busy.items()}}
        c = out["classes"][name]
        echo(f"  {cl.workers} workers {name}: measured {c['measured_ms']} ms, projected "
             f"{c['projected_ms']} ms (busiest worker + czar), worker CPU total {c['busy_sum_ms']} ms")
    return out


def write_json(path: Path, data) -> None:
    import json
    path.write_text(json.dumps(data, indent=1, default=str) + "\n")


def calibrate(points: list[dict]) -> dict:
    """The CPU-only projection (busiest worker + czar) is a lower bound: a query also waits
    (gRPC and MySQL round trips, rows handed between processes, and here other work on the
    machine). Calibrate on the 1-worker point: the ratio measured / projected there scales
    every point's projection; the 2-worker point validates it (measured / calibrated there
    should be near 1; how far it is says how much to trust the larger points)."""
    by_n = {p["workers"]: p for p in points}
    if 1 not in by_n:
        return {"calibrated_on": None}
    out: dict = {"calibrated_on": 1, "validation": {}}
    for c, v1 in by_n[1]["classes"].items():
        factor = v1["measured_ms"] / v1["projected_ms"] if v1["projected_ms"] > 0 else None
        for p in points:
            v = p["classes"].get(c)
            if v and factor:
                v["calibration_factor_1w"] = round(factor, 3)
                v["projected_calibrated_ms"] = round(v["projected_ms"] * factor, 2)
        if 2 in by_n and c in by_n[2]["classes"] and factor:
            v2 = by_n[2]["classes"][c]
            out["validation"][c] = {"measured_2w_ms": v2["measured_ms"],
                                    "projected_calibrated_2w_ms": v2["projected_calibrated_ms"],
                                    "ratio": round(v2["measured_ms"] / v2["projected_calibrated_ms"], 2)
                                    if v2["projected_calibrated_ms"] > 0 else None}
    return out

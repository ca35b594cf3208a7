"""The supervisor's back-off, without processes: a component that keeps crashing right
after each start waits 1, 2, 4 ... seconds (capped) between restarts; one that ran long
enough before crashing is restarted at once again."""

from __future__ import annotations

from qserv.admin import supervisor as sv
from qserv.config import ClusterConfig


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def make(tmp_path, monkeypatch, running: dict):
    config = ClusterConfig.create(tmp_path, 1, frontend_port=1, base_port=2)
    starts = []

    def start(config, name):
        starts.append((name, clock.t))
        running[name] = True   # it runs, until the test "crashes" it
    monkeypatch.setattr(sv, "start_component", start)
    monkeypatch.setattr(sv, "component_running", lambda config, name: running.get(name, True))
    clock = Clock()
    sup = sv.Supervisor(config, clock=clock, mono=clock)
    return sup, clock, starts


def test_backoff_values():
    assert [sv.backoff(n) for n in range(0, 9)] == [0, 1, 2, 4, 8, 16, 32, 60, 60]


def test_crash_loop_backs_off_and_a_stable_run_resets(tmp_path, monkeypatch):
    running = {}
    sup, clock, starts = make(tmp_path, monkeypatch, running)
    times = []
    for _ in range(5):   # crashes right after each start
        running["worker0"] = False
        while not running["worker0"]:
            sup.step()
            clock.t += 0.5
        times.append(starts[-1][1])
        clock.t += 0.5
    gaps = [b - a for a, b in zip(times, times[1:])]
    # each restart comes later than the last: 1, 2, 4, 8 s of back-off (+ the 1 s the test let it run)
    assert [round(g) for g in gaps] == [2, 3, 5, 9], gaps
    assert sup.watches["worker0"].restarts == 5
    clock.t += sv.STABLE_S + 1   # a long run: the next crash is restarted at once
    sup.step()
    running["worker0"] = False
    sup.step()
    assert starts[-1][1] == clock.t and sup.watches["worker0"].restarts == 6


def test_failed_start_is_retried_later(tmp_path, monkeypatch):
    running = {"czar": False}
    sup, clock, starts = make(tmp_path, monkeypatch, running)

    def broken(config, name):
        raise RuntimeError("cannot bind")
    monkeypatch.setattr(sv, "start_component", broken)
    sup.step()
    w = sup.watches["czar"]
    assert w.last_error == "cannot bind" and w.next_try == clock.t + 1 and w.restarts == 0
    sup.step()   # not yet
    assert w.next_try == clock.t + 1

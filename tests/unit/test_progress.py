"""Plain progress lines (qserv/progress.py) for output that is no terminal: periodic, one
final line per task, no rate before one is known."""

from qserv.progress import PlainProgress, interactive


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_periodic_and_final_lines():
    lines, clock = [], Clock()
    with PlainProgress(interval=5, out=lines.append, clock=clock) as bar:
        data = bar.add_task("demo data", total=2_000_000)
        units = bar.add_task("demo transactions", total=4, unit="transactions")
        bar.update(data, advance=500_000)
        assert lines == []                                     # not before the interval
        clock.t += 5
        bar.update(data, advance=500_000)
        bar.update(units, advance=2)
        clock.t += 5
        bar.update(data, advance=1_000_000)
        bar.update(units, advance=2)
    assert lines == [
        "demo data: 50% (1.0 MB of 2.0 MB), 200.0 kB/s, 5.0 s",
        "demo transactions: 2/4, 5.0 s",
        "demo data: done (2.0 MB), 200.0 kB/s, 10.0 s",
        "demo transactions: 4/4 done, 10.0 s",
    ]


def test_a_task_that_never_advanced_ends_without_a_rate():
    lines = []
    with PlainProgress(out=lines.append, clock=Clock()) as bar:
        bar.add_task("partition Filter", total=1, rows=0)
    assert lines == ["partition Filter: done (0 B), 0 rows, 0.0 s"]


def test_no_final_lines_after_an_error():
    lines = []
    try:
        with PlainProgress(out=lines.append, clock=Clock()) as bar:
            bar.add_task("x", total=10)
            raise RuntimeError("stop")
    except RuntimeError:
        pass
    assert lines == []


def test_interactive_is_false_for_files(tmp_path):
    with open(tmp_path / "out.txt", "w") as f:
        assert not interactive(f)

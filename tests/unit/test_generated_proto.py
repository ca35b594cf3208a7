"""The committed gRPC code (qserv/v1/) is what proto/ generates: editing a .proto without
running scripts/gen_proto.py fails here, naming the stale files."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gen_proto.py"


def _script():
    spec = importlib.util.spec_from_file_location("gen_proto", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_code_equals_a_fresh_generation():
    pytest.importorskip("grpc_tools")
    assert _script().differences() == []


def test_check_names_a_stale_file(tmp_path, monkeypatch):
    """The check really compares: a copy of the tree whose generated module was edited by
    hand is reported."""
    pytest.importorskip("grpc_tools")
    gen = _script()
    (tmp_path / "proto").symlink_to(gen.PROTO_ROOT)
    (tmp_path / "qserv" / "v1").mkdir(parents=True)
    for f in (gen.ROOT / "qserv" / "v1").glob("worker_pb2*"):
        (tmp_path / "qserv" / "v1" / f.name).write_bytes(f.read_bytes())
    edited = tmp_path / "qserv" / "v1" / "worker_pb2_grpc.py"
    edited.write_text(edited.read_text() + "\n# edited by hand\n")
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    assert gen.differences() == ["qserv/v1/worker_pb2_grpc.py"]
    assert gen.main(["--check"]) == 1

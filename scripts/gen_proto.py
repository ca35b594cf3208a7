"""Regenerate the gRPC code in qserv/v1/ from proto/ (grpcio-tools, pinned in pyproject's test
extra so every machine writes the same bytes).

    python3 scripts/gen_proto.py           # rewrite qserv/v1/*_pb2*.py(i) from proto/qserv/v1/*.proto
    python3 scripts/gen_proto.py --check   # exit 1 and name the files that differ (CI, tests)

The generated modules are committed (importing them needs no protoc); the check keeps them
equal to what the .proto files say, so an edit of a .proto without regenerating fails a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PACKAGE = Path("qserv") / "v1"
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def generate(out_dir: Path) -> list[Path]:
    """Write the generated files of every proto/qserv/v1/*.proto under out_dir/qserv/v1/;
    returns them, relative to out_dir."""
    from grpc_tools import protoc
    import grpc_tools
    protos = sorted((PROTO_ROOT / PACKAGE).glob("*.proto"))
    if not protos:
        raise SystemExit(f"no .proto file under {PROTO_ROOT / PACKAGE}")
    include = Path(grpc_tools.__file__).parent / "_proto"   # google/protobuf/*.proto
    args = ["protoc", f"-I{PROTO_ROOT}", f"-I{include}", f"--python_out={out_dir}",
            f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}",
            *(str(p.relative_to(PROTO_ROOT)) for p in protos)]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed (see above)")
    return [PACKAGE / (p.stem + s) for p in protos for s in SUFFIXES]


def differences() -> list[str]:
    """The generated files whose committed copy differs from a fresh generation."""
    with tempfile.TemporaryDirectory() as tmp:
        out = []
        for rel in generate(Path(tmp)):
            fresh = (Path(tmp) / rel).read_bytes()
            committed = ROOT / rel
            if not committed.exists() or committed.read_bytes() != fresh:
                out.append(str(rel))
        return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true",
                   help="compare only; exit 1 naming the files that differ")
    args = p.parse_args(argv)
    if args.check:
        stale = differences()
        if stale:
            print("stale generated code (run python3 scripts/gen_proto.py): " + ", ".join(stale),
                  file=sys.stderr)
            return 1
        print("qserv/v1 matches proto/")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        for rel in generate(Path(tmp)):
            (ROOT / rel).write_bytes((Path(tmp) / rel).read_bytes())
            print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

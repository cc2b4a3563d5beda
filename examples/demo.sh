#!/usr/bin/env bash
# `make demo`: a 3-host Romana lab with two tenants; the reachability matrix before and after an
# isolation policy; then how to explore it. Needs root (network namespaces). Leaves the lab up.
set -euo pipefail
cd "$(dirname "$0")/.."
romana() { node bin/romana "$@"; }
bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
if [ "$(id -u)" != 0 ]; then echo "make demo needs root (it builds network namespaces)" >&2; exit 1; fi

romana lab down >/dev/null 2>&1 || true
bold '$ romana lab up -f examples/lab-cluster.yaml   # 3 hosts, romanad, an agent per host, pods via romana-cni'
romana lab up -f examples/lab-cluster.yaml
# The lab's romanad wants a token: the lab wrote an admin token into a file only root can read.
state="${ROMANA_LAB_DIR:-/run/romana/lab-lab}/state.json"
export ROMANA_API=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).apiUrl)' "$state")
export ROMANA_TOKEN_FILE=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).adminTokenFile)' "$state")

bold '$ romana block list   # one block per host x tenant x segment; routes between hosts are plain routes'
romana block list
bold '$ romana lab probe    # real TCP connections between pods, and from an external; no policy yet'
romana lab probe
bold '$ romana policy apply -f examples/isolation.yaml'
romana policy apply -f examples/isolation.yaml
bold '$ romana lab probe    # the kernel now enforces tenant isolation'
romana lab probe
bold '$ romana policy explain --from bank/api --to shop/web --port 80/TCP'
romana lab export > /tmp/romana-demo-cluster.yaml
romana policy explain -f /tmp/romana-demo-cluster.yaml --from bank/api --to shop/web --port 80/TCP

cat <<EOT

The lab is still up. Explore it:
  export ROMANA_API=$ROMANA_API ROMANA_TOKEN_FILE=$ROMANA_TOKEN_FILE
  node bin/romana block list                      # address blocks per host, tenant and segment
  node bin/romana lab export > cluster.yaml       # the realized cluster, for offline simulate/explain
  node bin/romana policy explain -f cluster.yaml --from shop/web --to shop/db --port 5432/TCP
  node bin/romana lab probe                       # real connections, same shape as policy simulate
  ip netns list | grep rl-lab-                    # the hosts, pods and fabric
  node bin/romana lab down                        # remove it all
EOT

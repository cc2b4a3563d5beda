#!/usr/bin/env bash
# `make demo`: romanad on an embedded store with the example topology, three hosts in two racks,
# addresses for two tenants, and the resulting blocks.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=$(mktemp -d /tmp/romana-demo.XXXX)
PORT=${ROMANA_DEMO_PORT:-9600}
export ROMANA_API=http://127.0.0.1:$PORT
romana() { node bin/romana "$@"; }
node bin/romanad --data-dir "$DIR" --port "$PORT" --topology examples/topology.yaml --log-level warn &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do curl -sf "$ROMANA_API/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$ROMANA_API/healthz" >/dev/null || { echo "romanad did not start" >&2; exit 1; }

say() { printf '\n\033[1m$ romana %s\033[0m\n' "$*"; }
say network list;                                   romana network list
say host add node-1 --ip 192.168.10.1 --label rack=r1; romana host add node-1 --ip 192.168.10.1 --label rack=r1
say host add node-2 --ip 192.168.10.2 --label rack=r2; romana host add node-2 --ip 192.168.10.2 --label rack=r2
say host add node-3 --ip 192.168.10.3 --label rack=r1; romana host add node-3 --ip 192.168.10.3 --label rack=r1
for i in 1 2 3; do
  for t in shop:web shop:db bank:default; do
    tenant=${t%%:*} segment=${t##*:}
    romana address allocate --name "$tenant-$segment-$i" --host "node-$i" --tenant "$tenant" --segment "$segment" >/dev/null
  done
done
romana address allocate --name shop-web-1b --host node-1 --tenant shop --segment web >/dev/null
say address list;  romana address list
say block list;    romana block list
say 'topology show  (group CIDRs and where the hosts went)'
romana -o json topology show | node -e '
  const t = JSON.parse(require("fs").readFileSync(0, "utf8"));
  for (const g of t.topologies[0].map) console.log(`${g.name.padEnd(8)} ${g.cidr.padEnd(16)} hosts: ${g.groups.map((h) => h.name).join(", ")}`);'
echo
echo "Each host x tenant x segment owns its own /29 block, carved from its rack's CIDR."

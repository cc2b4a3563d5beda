#!/usr/bin/env bash
# Installs what romana needs on a Debian 12 machine (run as root): system tools, then npm packages.
# Skips apt when every tool is already there; `FORCE_APT=1` always runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS=(iproute2 iputils-ping iptables ipset nftables conntrack netcat-openbsd tcpdump etcd-server etcd-client
  containernetworking-plugins make g++ python3
  podman runc crun busybox-static bird2 chromium flake8 zsh
  python3-neutron python3-oslotest python3-stestr python3-ddt)
# kubectl: any recent one on the PATH will do (some machines carry Google's); else Debian's.
command -v kubectl >/dev/null 2>&1 || PKGS+=(kubernetes-client)
need_apt=${FORCE_APT:-0}
for t in ip ping iptables-restore ipset nft conntrack nc tcpdump etcd etcdctl make g++ podman runc bird birdc chromium flake8 kubectl zsh; do
  command -v "$t" >/dev/null 2>&1 || need_apt=1
done
[ -x /usr/lib/cni/portmap ] || need_apt=1
[ -x /bin/busybox ] || need_apt=1 # busybox-static: the podman test's image
/usr/bin/python3 -c 'import neutron, oslotest, stestr, ddt' 2>/dev/null || need_apt=1
if [ "$need_apt" = 1 ]; then
  if [ "$(id -u)" != 0 ]; then echo "install-deps: need root to apt-get install ${PKGS[*]}" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
fi
# npm ci only when the lock file changed since the last install.
stamp=node_modules/.romana-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

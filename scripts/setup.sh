#!/bin/sh
# Installs what Sluice needs to build, test and demo, from Debian's packages.
# Idempotent: silent and quick when everything is already present.
set -eu

need="meson ninja-build pkg-config gcc python3 liburcu-dev libjemalloc-dev libnghttp2-dev
libcriterion-dev libpcre2-dev libssl-dev openssl curl wrk nghttp2-client nghttp2-server chromium socat haproxy nginx-light groff-base"
missing=""
for p in $need; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "setup: installing$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null

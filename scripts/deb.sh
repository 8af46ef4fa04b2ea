#!/bin/sh
# Builds the Debian packages from this checkout's files (tracked and new,
# not ignored) in a scratch copy, then checks each .deb's contents with
# dpkg-deb -c. Not part of CI (.ci/run): a full package build runs the unit
# tests again and takes minutes.
#
#   scripts/deb.sh [OUTDIR]     (default OUTDIR: /tmp/sluice-deb)
#
# Needs dpkg-dev and debhelper (apt-get install debhelper) and the
# Build-Depends of debian/control (scripts/setup.sh installs them).
set -eu
cd "$(dirname "$0")/.."
out=${1:-/tmp/sluice-deb}
version=$(dpkg-parsechangelog -S Version)
src="$out/sluice-$version"

rm -rf "$out"
mkdir -p "$src"
git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$src"
(cd "$src" && nice dpkg-buildpackage -b -us -uc)

arch=$(dpkg-architecture -qDEB_HOST_ARCH)
multi=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
fail=0
# Each package must hold these paths (dpkg-deb -c prints "./PATH").
check() {
	deb="$out/${1}_${version}_$arch.deb"
	shift
	if [ ! -f "$deb" ]; then
		echo "deb: missing $deb"; fail=1; return
	fi
	list=$(dpkg-deb -c "$deb" | awk '{print $6}')
	for p in "$@"; do
		if ! printf '%s\n' "$list" | grep -qx "\./$p"; then
			echo "deb: $deb lacks $p"; fail=1
		fi
	done
	echo "deb: $(basename "$deb"): $(printf '%s\n' "$list" | grep -cv '/$') files"
}
check sluice usr/bin/sluice etc/sluice/sluice.cfg lib/systemd/system/sluice.service \
	usr/share/man/man1/sluice.1.gz usr/share/man/man5/sluice.cfg.5.gz \
	usr/share/doc/sluice/sluice.cfg usr/share/doc/sluice/copyright
check libsluice0 "usr/lib/$multi/libsluice.so.0" "usr/lib/$multi/libsluice.so.0.1.0"
check libsluice-dev usr/include/sluice.h usr/include/sluice/pool/pool.h "usr/lib/$multi/libsluice.a" "usr/lib/$multi/libsluice.so" \
	"usr/lib/$multi/pkgconfig/sluice.pc"
# /etc/sluice/sluice.cfg must be a conffile, so upgrades keep local edits
if ! dpkg-deb -I "$out/sluice_${version}_$arch.deb" conffiles 2>/dev/null | grep -qx /etc/sluice/sluice.cfg; then
	echo "deb: /etc/sluice/sluice.cfg is not a conffile"; fail=1
fi
[ $fail -eq 0 ] && echo "deb: packages in $out are complete"
exit $fail

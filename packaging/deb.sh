#!/usr/bin/env bash
# packaging/deb.sh: `make deb`. Builds .build/raptor-ev_VERSION_ARCH.deb with dpkg-deb and
# prints its path on the last line.
#
# The package is `packaging/install.sh install` with PREFIX=/usr into a staging root:
#   /usr/bin/raptor-ev, /usr/lib/libraptor.so.VERSION (+ libraptor.so), the Swift modules
#   and the C shim's header (/usr/lib/swift/raptor, /usr/include/raptor), the man page,
#   the example units in /usr/share/doc/raptor-ev/examples,
#   /usr/lib/raptor-ev/: the Swift runtime libraries (libswiftCore.so, ...), which Debian
#   does not package; the binary and libraptor.so find them through their rpath
#   ($ORIGIN/../lib/raptor-ev, $ORIGIN/raptor-ev).
# Depends: the Debian package of every library the ELF files load from outside the
# package (ldd, then dpkg -S): libev4, libhttp-parser2.9, libc6, libstdc++6, libgcc-s1.
#
# Environment: SWIFT (default swift), DEB_MAINTAINER (default below), OUTPUT_DIR
# (default .build).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUTPUT_DIR="${OUTPUT_DIR:-$ROOT/.build}"
MAINTAINER="${DEB_MAINTAINER:-raptor-ev maintainers <maintainers@raptor-ev.invalid>}"

die() {
    echo "deb.sh: $*" >&2
    exit 1
}

command -v dpkg-deb >/dev/null || die "dpkg-deb not found (Debian's dpkg package)"

version="$(sed -n 's/.*static let current = "\(.*\)".*/\1/p' "$ROOT/Sources/Raptor/CommandLine/RaptorVersion.swift")"
[ -n "$version" ] || die "cannot read the version"
arch="$(dpkg --print-architecture)"
name="raptor-ev_${version}_${arch}"
stage="$ROOT/.build/deb/$name"

rm -rf "$stage"
mkdir -p "$stage"
PREFIX=/usr DESTDIR="$stage" MANIFEST=no bash "$ROOT/packaging/install.sh" install

# Debian's conventions: compressed man pages, a copyright file.
gzip -9n "$stage/usr/share/man/man1/raptor-ev.1"
install -d -m 755 "$stage/usr/share/doc/raptor-ev"
{
    echo "raptor-ev $version: a prefork HTTP/1.1 server for Swift on Linux."
    echo
    echo "/usr/lib/raptor-ev/ holds the Swift runtime libraries from the toolchain that"
    echo "built this package (Swift $("${SWIFT:-swift}" --version 2>/dev/null | sed -n 's/.*Swift version \([^ ]*\).*/\1/p' | head -1)),"
    echo "under the Apache License v2.0 with Runtime Library Exception:"
    echo
    runtime_license="$("${SWIFT:-swift}" -print-target-info | sed -n '/"runtimeResourcePath"/{s/.*"\(.*\)".*/\1/p;}')/../../share/swift/LICENSE.txt"
    if [ -f "$runtime_license" ]; then sed 's/^/  /' "$runtime_license"; else echo "  https://swift.org/LICENSE.txt"; fi
} >"$stage/usr/share/doc/raptor-ev/copyright"
chmod 644 "$stage/usr/share/doc/raptor-ev/copyright"

# Depends: who provides each library the package's ELF files load from outside it. ldd
# runs with an empty environment, so only the files' own rpaths (inside the staging root)
# and the system's paths count: the toolchain must not be needed.
elves=("$stage/usr/bin/raptor-ev" "$stage/usr/lib/libraptor.so.$version" "$stage"/usr/lib/raptor-ev/*.so)
ldd_output="$(for elf in "${elves[@]}"; do env -i /usr/bin/ldd "$elf"; done)"
if grep -q "not found" <<<"$ldd_output"; then
    die "libraries not found from the staged package:
$(grep "not found" <<<"$ldd_output" | sort -u)"
fi
owner() {
    local path="$1" alternative
    case "$path" in
        /usr/*) alternative="${path#/usr}" ;;
        *) alternative="/usr$path" ;;
    esac
    { dpkg -S "$path" 2>/dev/null || dpkg -S "$alternative" 2>/dev/null; } | head -1 | cut -d: -f1
}
depends=()
while read -r library; do
    package="$(owner "$library")"
    [ -n "$package" ] || die "no Debian package provides $library"
    depends+=("$package")
done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$ldd_output" \
    | grep -v "^$stage/" | sort -u)
depends_field="$(printf '%s\n' "${depends[@]}" | sort -u | paste -sd, | sed 's/,/, /g')"

install -d -m 755 "$stage/DEBIAN"
cat >"$stage/DEBIAN/control" <<EOF
Package: raptor-ev
Version: $version
Architecture: $arch
Maintainer: $MAINTAINER
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: $depends_field
Section: httpd
Priority: optional
Description: prefork HTTP/1.1 server for Swift on Linux
 raptor-ev runs a libev event loop per worker process and parses HTTP/1.1
 strictly with http_parser; with no application, \`raptor-ev serve DIR\`
 serves the static files of a directory. libraptor.so is the same server as a
 library for other Swift tools (compiled with the same Swift compiler).
EOF
# libraptor.so in /usr/lib: the loader's cache must know it, and packages built against
# it depend on this exact version (no library evolution: no stable ABI across versions).
echo "activate-noawait ldconfig" >"$stage/DEBIAN/triggers"
echo "libraptor $version raptor-ev (= $version)" >"$stage/DEBIAN/shlibs"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 644 "$stage/DEBIAN/control" "$stage/DEBIAN/triggers" "$stage/DEBIAN/shlibs" "$stage/DEBIAN/md5sums"

mkdir -p "$OUTPUT_DIR"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$OUTPUT_DIR/$name.deb" >/dev/null
echo "Depends: $depends_field"
echo "$(du -k "$OUTPUT_DIR/$name.deb" | cut -f1) KiB"
echo "$OUTPUT_DIR/$name.deb"

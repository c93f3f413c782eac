#!/usr/bin/env bash
# packaging/install.sh: `make install` and `make uninstall` (packaging/deb.sh uses it too).
#
#   packaging/install.sh install     build (release) and install under $DESTDIR$PREFIX
#   packaging/install.sh uninstall   remove exactly what the last install put there
#   packaging/install.sh build       only build (release); print nothing else
#
# Environment: PREFIX (default /usr/local), DESTDIR (default empty), SWIFT (default swift),
# MANIFEST=no to install without a manifest (the Debian package: dpkg keeps its own list).
#
# What goes where (PREFIX-relative; README.md, "Using libraptor from another Swift tool"):
#   bin/raptor-ev                         the server (the Raptor library linked in statically)
#   lib/libraptor.so.VERSION              the Raptor library (SONAME libraptor.so.VERSION)
#   lib/libraptor.so                      -> libraptor.so.VERSION, for -lraptor
#   lib/raptor-ev/                        the Swift runtime libraries both need (private)
#   lib/swift/raptor/*.swiftmodule        Raptor and the modules its interface uses
#   include/raptor/raptor.h               the C shim's header
#   include/raptor/module.modulemap       modules CRaptor and _AtomicsShims, for the Swift compiler
#   include/raptor/_AtomicsShims.h        the C part of swift-atomics (loaded through Prometheus)
#   share/man/man1/raptor-ev.1            generated from the command line's own help
#   share/doc/raptor-ev/examples/         systemd units (packaging/*.service, *.socket),
#                                         hello.swift (Examples/installed/main.swift)
#   share/raptor-ev/install-manifest      every file, link and directory install created
#
# The build lives in its own scratch directory (.build/packaging) because its link flags
# differ from `swift build`'s: no rpath into the toolchain (-no-toolchain-stdlib-rpath),
# and rpaths relative to the binary instead ($ORIGIN/../lib/raptor-ev), so the installed
# tree runs with the runtime it was built with, wherever the prefix is (and in a .deb),
# whether or not a toolchain is installed, and survives a toolchain upgrade.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${PREFIX:-/usr/local}"
PREFIX="${PREFIX%/}"
DESTDIR="${DESTDIR:-}"
DESTDIR="${DESTDIR%/}"
SWIFT="${SWIFT:-swift}"
MANIFEST="${MANIFEST:-yes}"
SCRATCH="$ROOT/.build/packaging"
MANIFEST_PATH="$PREFIX/share/raptor-ev/install-manifest"

# The modules a client's `import Raptor` loads: Raptor's own imports (ArgumentParser,
# Logging, HTTPTypes, ServiceLifecycle, and Prometheus: internal to Raptor, but a module built
# without library evolution has its clients load every import; CRaptor comes from
# include/raptor) and theirs (ArgumentParserToolInfo; UnixSignals, ConcurrencyHelpers,
# AsyncAlgorithms and, through it, swift-collections' DequeModule, OrderedCollections,
# InternalCollectionsUtilities, ContainersPreview; Atomics and CoreMetrics, and Atomics' C
# module _AtomicsShims, from include/raptor). InstallTests compiles
# Examples/installed/main.swift against the installed tree, so a missing one fails the tests.
SWIFT_MODULES=(Raptor ArgumentParser ArgumentParserToolInfo Logging HTTPTypes ServiceLifecycle UnixSignals
    ConcurrencyHelpers AsyncAlgorithms DequeModule OrderedCollections InternalCollectionsUtilities ContainersPreview
    Prometheus Atomics CoreMetrics)

die() {
    echo "install.sh: $*" >&2
    exit 1
}

version() {
    sed -n 's/.*static let current = "\(.*\)".*/\1/p' "$ROOT/Sources/Raptor/CommandLine/RaptorVersion.swift"
}

# The directory of the toolchain's Swift runtime libraries (libswiftCore.so and friends).
runtime_dir() {
    "$SWIFT" -print-target-info | sed -n '/"runtimeLibraryPaths"/{n;s/.*"\(.*\)".*/\1/p;}'
}

# The man page's date: SOURCE_DATE_EPOCH, else the last commit's, else today, so two
# builds of one commit make the same page.
manual_date() {
    if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
        date -u -d "@$SOURCE_DATE_EPOCH" +%F
    elif git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
        git -C "$ROOT" log -1 --format=%cs
    else
        date -u +%F
    fi
}

build() {
    local version bin runtime
    version="$(version)"
    [ -n "$version" ] || die "cannot read the version from Sources/Raptor/CommandLine/RaptorVersion.swift"
    local common=(build -c release --scratch-path "$SCRATCH" -Xswiftc -no-toolchain-stdlib-rpath)
    # Only link flags differ between these three, so each links without recompiling.
    # shellcheck disable=SC2016 # $ORIGIN is for the dynamic loader, not the shell
    "$SWIFT" "${common[@]}" --product raptor-ev -Xlinker -rpath -Xlinker '$ORIGIN/../lib/raptor-ev'
    # shellcheck disable=SC2016
    "$SWIFT" "${common[@]}" --product raptor \
        -Xlinker -soname -Xlinker "libraptor.so.$version" -Xlinker -rpath -Xlinker '$ORIGIN/raptor-ev'
    "$SWIFT" "${common[@]}" --product generate-manual

    bin="$("$SWIFT" "${common[@]}" --show-bin-path)"
    runtime="$(runtime_dir)"
    [ -f "$runtime/libswiftCore.so" ] || die "no libswiftCore.so in '$runtime' (from $SWIFT -print-target-info)"
    # The man page, from the binary's own help (--experimental-dump-help), so it never
    # drifts. The built tools find the toolchain's runtime through LD_LIBRARY_PATH here;
    # installed, through their rpath.
    rm -rf "$SCRATCH/man"
    mkdir -p "$SCRATCH/man"
    LD_LIBRARY_PATH="$runtime" "$bin/generate-manual" "$bin/raptor-ev" \
        --output-directory "$SCRATCH/man" --section 1 --date "$(manual_date)"
    [ -s "$SCRATCH/man/raptor-ev.1" ] || die "generate-manual made no raptor-ev.1"
    keep_layout "$SCRATCH/man/raptor-ev.1"
}

# The help's discussion (signals, bind URLs, sizes: indented tables and blank lines)
# reaches the mdoc page as plain text, which man would refill into one paragraph. A run of
# text lines (no macro) holding an indented or blank line is set as a literal display, so
# the page shows it laid out as `--help` does.
keep_layout() {
    awk '
        function flush(   i, literal) {
            literal = 0
            for (i = 1; i <= n; i++) if (block[i] == "" || block[i] ~ /^[ \t]/) literal = 1
            if (literal) print ".Bd -literal"
            for (i = 1; i <= n; i++) print block[i]
            if (literal) print ".Ed"
            n = 0
        }
        /^[.\x27]/ { flush(); print; next }
        { block[++n] = $0 }
        END { flush() }
    ' "$1" >"$1.tmp"
    mv "$1.tmp" "$1"
}

# --- Installing, with a manifest --------------------------------------------------------

entries=()

record() { entries+=("$1 $2"); }

# mkdir -p that records each directory it creates (PREFIX-absolute, without DESTDIR).
make_directory() {
    local dir="$1"
    [ -d "$DESTDIR$dir" ] && return 0
    # DESTDIR itself is the caller's: made if missing, never recorded.
    if [ "$dir" = / ]; then
        mkdir -p "$DESTDIR/"
        return 0
    fi
    make_directory "$(dirname "$dir")"
    mkdir -m 755 "$DESTDIR$dir"
    record d "$dir"
}

# install_file MODE SOURCE DESTINATION (DESTINATION absolute, under PREFIX)
install_file() {
    make_directory "$(dirname "$3")"
    install -m "$1" "$2" "$DESTDIR$3"
    record f "$3"
}

# install_link TARGET DESTINATION
install_link() {
    make_directory "$(dirname "$2")"
    ln -sfn "$1" "$DESTDIR$2"
    record l "$2"
}

strip_debug() {
    # Debug info only: the symbol table stays, so crash backtraces still name functions.
    if command -v "${STRIP:-strip}" >/dev/null; then "${STRIP:-strip}" --strip-debug "$1"; fi
}

# The Swift runtime libraries an ELF file loads from the toolchain, one path per line.
toolchain_libraries() {
    local runtime="$1"
    shift
    env -i LD_LIBRARY_PATH="$runtime" ldd "$@" | awk -v dir="$runtime/" 'index($3, dir) == 1 { print $3 }' | sort -u
}

do_install() {
    build
    local version bin runtime staging library
    version="$(version)"
    bin="$("$SWIFT" build -c release --scratch-path "$SCRATCH" -Xswiftc -no-toolchain-stdlib-rpath --show-bin-path)"
    runtime="$(runtime_dir)"

    # Reinstalling: first remove what the previous install put there (its list of files
    # may differ from this one's).
    if [ "$MANIFEST" = yes ] && [ -f "$DESTDIR$MANIFEST_PATH" ]; then do_uninstall; fi

    # Strip copies, never the build's own files.
    staging="$SCRATCH/staging"
    rm -rf "$staging"
    mkdir -p "$staging"
    cp "$bin/raptor-ev" "$bin/libraptor.so" "$staging/"
    strip_debug "$staging/raptor-ev"
    strip_debug "$staging/libraptor.so"

    install_file 755 "$staging/raptor-ev" "$PREFIX/bin/raptor-ev"
    install_file 644 "$staging/libraptor.so" "$PREFIX/lib/libraptor.so.$version"
    install_link "libraptor.so.$version" "$PREFIX/lib/libraptor.so"
    local libraries=()
    mapfile -t libraries < <(toolchain_libraries "$runtime" "$bin/raptor-ev" "$bin/libraptor.so")
    [ "${#libraries[@]}" -gt 0 ] || die "ldd found no Swift runtime library under $runtime"
    for library in "${libraries[@]}"; do
        install_file 644 "$library" "$PREFIX/lib/raptor-ev/$(basename "$library")"
    done

    for module in "${SWIFT_MODULES[@]}"; do
        install_file 644 "$bin/Modules/$module.swiftmodule" "$PREFIX/lib/swift/raptor/$module.swiftmodule"
        if [ -f "$bin/Modules/$module.swiftdoc" ]; then
            install_file 644 "$bin/Modules/$module.swiftdoc" "$PREFIX/lib/swift/raptor/$module.swiftdoc"
        fi
    done
    install_file 644 "$ROOT/CShims/CRaptor/include/raptor.h" "$PREFIX/include/raptor/raptor.h"
    install_file 644 "$ROOT/packaging/module.modulemap" "$PREFIX/include/raptor/module.modulemap"
    install_file 644 "$SCRATCH/checkouts/swift-atomics/Sources/_AtomicsShims/include/_AtomicsShims.h" \
        "$PREFIX/include/raptor/_AtomicsShims.h"

    install_file 644 "$SCRATCH/man/raptor-ev.1" "$PREFIX/share/man/man1/raptor-ev.1"

    # Example units: whatever packaging/ holds, with the binary's path made this prefix's.
    local unit
    for unit in "$ROOT"/packaging/*.service "$ROOT"/packaging/*.socket; do
        [ -f "$unit" ] || continue
        sed -E "s#/usr(/local)?/bin/raptor-ev#$PREFIX/bin/raptor-ev#g" "$unit" >"$staging/$(basename "$unit")"
        install_file 644 "$staging/$(basename "$unit")" "$PREFIX/share/doc/raptor-ev/examples/$(basename "$unit")"
    done
    install_file 644 "$ROOT/Examples/installed/main.swift" "$PREFIX/share/doc/raptor-ev/examples/hello.swift"

    if [ "$MANIFEST" = yes ]; then
        make_directory "$(dirname "$MANIFEST_PATH")"
        record f "$MANIFEST_PATH"
        printf '%s\n' "${entries[@]}" >"$DESTDIR$MANIFEST_PATH"
        chmod 644 "$DESTDIR$MANIFEST_PATH"
    fi
    refresh_loader_cache
    echo "Installed raptor-ev $version in $DESTDIR$PREFIX ($(count_files) files)"
}

count_files() {
    local count=0 entry
    for entry in "${entries[@]}"; do [ "${entry%% *}" = d ] || count=$((count + 1)); done
    echo "$count"
}

# Installing into the real root as root: let the loader's cache know about libraptor.so.
refresh_loader_cache() {
    if [ -z "$DESTDIR" ] && [ "$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then
        ldconfig || true
    fi
}

do_uninstall() {
    local manifest="$DESTDIR$MANIFEST_PATH" kind path removed=0
    [ -f "$manifest" ] || die "nothing to uninstall: no $manifest (installed with another PREFIX or DESTDIR?)"
    local lines=()
    mapfile -t lines <"$manifest"
    # Files and links first, then the directories install created, deepest first (the
    # manifest lists them parents first), each only if nothing else lives in it now.
    for entry in "${lines[@]}"; do
        kind="${entry%% *}"
        path="${entry#* }"
        case "$kind" in
            f | l)
                if [ -e "$DESTDIR$path" ] || [ -L "$DESTDIR$path" ]; then
                    rm -f "$DESTDIR$path"
                    removed=$((removed + 1))
                fi
                ;;
            d) ;;
            *) die "$manifest: unknown entry '$entry'" ;;
        esac
    done
    local index
    for ((index = ${#lines[@]} - 1; index >= 0; index--)); do
        entry="${lines[index]}"
        [ "${entry%% *}" = d ] || continue
        path="${entry#* }"
        if [ -d "$DESTDIR$path" ]; then rmdir "$DESTDIR$path" 2>/dev/null || true; fi
    done
    refresh_loader_cache
    echo "Uninstalled raptor-ev from $DESTDIR$PREFIX ($removed files)"
}

case "${1:-}" in
    install) do_install ;;
    uninstall) do_uninstall ;;
    build) build ;;
    *)
        echo "usage: $0 install|uninstall|build   (environment: PREFIX, DESTDIR, SWIFT, MANIFEST)" >&2
        exit 64
        ;;
esac

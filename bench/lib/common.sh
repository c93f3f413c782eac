# shellcheck shell=bash
# Logging, failure, bounded waits and small helpers shared by bench/run.sh.

log()  { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
warn() { printf '[bench %(%H:%M:%S)T] WARNING: %s\n' -1 "$*" >&2; }
die()  { printf '[bench %(%H:%M:%S)T] ERROR: %s\n' -1 "$*" >&2; exit 1; }

# as_root CMD...: run CMD as root (directly when we are root, else through sudo -n).
as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"
    elif command -v sudo >/dev/null; then sudo -n "$@"
    else die "need root to run: $*  (no sudo available)"
    fi
}

# ensure_debian_packages CMD=PKG...: install PKG when CMD is not on PATH; =PKG (no CMD):
# when dpkg does not list PKG as installed (a library, e.g. =ruby-rack).
ensure_debian_packages() {
    local missing=() spec cmd pkg
    for spec in "$@"; do
        cmd=${spec%%=*} pkg=${spec#*=}
        if [[ -z $cmd ]]; then
            [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) == *" installed" ]] || missing+=("$pkg")
        else
            command -v "$cmd" >/dev/null || [[ -x /usr/sbin/$cmd ]] || missing+=("$pkg")
        fi
    done
    ((${#missing[@]})) || return 0
    log "installing: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get update -qq >&2 ||
        warn "apt-get update failed, trying the install anyway"
    as_root env DEBIAN_FRONTEND=noninteractive timeout 900 \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
        die "could not install ${missing[*]}"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# join SEP ITEMS...
join() { local IFS=$1; shift; echo "$*"; }

# in_list ITEM LIST...
in_list() { local x=$1 y; shift; for y; do [[ $x == "$y" ]] && return 0; done; return 1; }

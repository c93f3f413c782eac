# shellcheck shell=bash
# Logging, failure, bounded waits and small helpers shared by bench/run.sh.

log()  { printf '[bench] %s\n' "$*" >&2; }
warn() { printf '[bench] WARNING: %s\n' "$*" >&2; }
die()  { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

# as_root CMD...: run CMD as root (directly when we are root, else through sudo -n).
as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"
    elif command -v sudo >/dev/null; then sudo -n "$@"
    else die "need root to run: $*  (no sudo available)"
    fi
}

# ensure_debian_packages CMD=PKG...: install PKG when CMD is not on PATH.
ensure_debian_packages() {
    local missing=() spec cmd pkg
    for spec in "$@"; do
        cmd=${spec%%=*} pkg=${spec#*=}
        command -v "$cmd" >/dev/null || [[ -x /usr/sbin/$cmd ]] || missing+=("$pkg")
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

# shellcheck shell=bash
# The servers under test: one entry in SERVERS_ALL plus one server_<name> function each.
#
# server_<name> PORT DIR   fills the global array SERVER_CMD with the command that runs the
#                          server in the foreground on 127.0.0.1:PORT with ONE worker process,
#                          answering GET / with "Hello, World!" (text/plain). DIR is a private
#                          scratch directory for config files, pid files, temp dirs.
# server_<name>_prepare    (optional) install / build what the server needs; runs once.
# server_<name>_version    (optional) prints a one-line version for the report header.
#
# Function names use _ where the server name uses -.

SERVERS_ALL=(raptor-inline raptor-pool nginx)

# --- raptor-ev (the testapp; built once in release) ------------------------------------

RAPTOR_BIN=""

raptor_build() {
    [[ -n $RAPTOR_BIN ]] && return 0
    log "building raptor-testapp (release) in $REPO_ROOT"
    (cd "$REPO_ROOT" && timeout 1800 swift build -c release --product raptor-testapp >&2) ||
        die "swift build -c release --product raptor-testapp failed (run with --servers nginx to bench nginx alone)"
    RAPTOR_BIN="$(cd "$REPO_ROOT" && swift build -c release --show-bin-path)/raptor-testapp"
    [[ -x $RAPTOR_BIN ]] || die "raptor-testapp not found at $RAPTOR_BIN after the build"
}
raptor_version() { echo "raptor-ev $(git -C "$REPO_ROOT" describe --always --dirty 2>/dev/null || echo '?')"; }
raptor_cmd() {  # PORT THREADS
    SERVER_CMD=("$RAPTOR_BIN" --bind "tcp://127.0.0.1:$1" --threads "$2" --log-format json)
}

server_raptor_inline_prepare() { raptor_build; }
server_raptor_inline_version() { raptor_version; }
server_raptor_inline()         { raptor_cmd "$1" 0; }

server_raptor_pool_prepare()   { raptor_build; }
server_raptor_pool_version()   { raptor_version; }
server_raptor_pool()           { raptor_cmd "$1" 5; }

# --- nginx (Debian nginx-light; private prefix, never the system instance) -------------

server_nginx_prepare() { ensure_debian_packages nginx=nginx-light; }
server_nginx_version() { nginx -v 2>&1 | sed 's/^nginx version: //'; }
server_nginx() {  # PORT DIR
    local port=$1 dir=$2 nginx
    nginx=$(command -v nginx || echo /usr/sbin/nginx)
    mkdir -p "$dir/logs" "$dir/tmp"
    sed -e "s|@PORT@|$port|g" -e "s|@DIR@|$dir|g" "$BENCH_DIR/nginx.conf.template" >"$dir/nginx.conf"
    # -e: error log before the config is read (the compiled-in path is /var/log/nginx).
    SERVER_CMD=("$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" -g 'daemon off;')
}

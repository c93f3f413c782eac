# shellcheck shell=bash
# The servers under test: one entry in SERVERS_ALL plus one server_<name> function each.
#
# server_<name> PORT DIR   fills the global array SERVER_CMD with the command that runs the
#                          server in the foreground on 127.0.0.1:PORT with WORKERS worker
#                          processes (threads for a one-process server), answering:
#                            GET /            "Hello, World!" (text/plain)
#                            GET /$STATIC_FILE the file of STATIC_DIR (when KIND=static)
#                            POST /post       reads the whole body, answers 200 (13 bytes)
#                          DIR is a private scratch directory for config files, pid files,
#                          temp dirs. It may also set:
#                            SERVER_URL_PATH  the path it answers URL_PATH at (default URL_PATH)
#                            SERVER_NOTE      a remark for the report ("cluster mode not
#                                             available", how threads are set, ...)
#                          Context (globals): WORKERS, KIND, URL_PATH, STATIC_DIR, STATIC_FILE.
#                          KIND is hello, post, or one of the file kinds (static, range,
#                          conditional: GET URL_PATH from STATIC_DIR, see scenarios.sh).
# server_<name>_prepare    (optional) install / build what the server needs; runs once.
# server_<name>_version    (optional) prints a one-line version for the report header.
#
# Function names use _ where the server name uses -.

SERVERS_ALL=(raptor-inline raptor-pool raptor-async nginx h2o puma hummingbird)
# Servers that run only in the scenarios that name them (SCENARIO_SERVERS): raptor-async is
# compared with raptor-pool on the async scenarios, not with every peer everywhere.
OPT_IN_SERVERS=(raptor-async)

# --- raptor-ev (the testapp, and the raptor-ev binary for static files; release builds) --

# RAPTOR_BIN_DIR in the environment: raptor-testapp and raptor-ev from there, nothing built
# (a before/after comparison: the binaries of another checkout, run by this one's bench).
RAPTOR_BIN_GIVEN=${RAPTOR_BIN_DIR:-} RAPTOR_BIN_DIR=${RAPTOR_BIN_DIR:-} RAPTOR_HAS_WORKERS=""

raptor_build() {
    [[ -n $RAPTOR_HAS_WORKERS ]] && return 0
    [[ -n $RAPTOR_BIN_GIVEN ]] || raptor_build_here
    [[ -x $RAPTOR_BIN_DIR/raptor-testapp && -x $RAPTOR_BIN_DIR/raptor-ev ]] ||
        die "raptor-testapp or raptor-ev not found in $RAPTOR_BIN_DIR"
    # The prefork cluster (-w N) exists when the serve command documents --workers.
    local help  # (not piped into grep -q: with pipefail, its early exit would fail the pipe)
    help=$("$RAPTOR_BIN_DIR/raptor-testapp" serve --help 2>&1 || true)
    if [[ $help == *--workers* ]]; then
        RAPTOR_HAS_WORKERS=1
    else
        RAPTOR_HAS_WORKERS=0
        warn "raptor-testapp has no --workers: raptor-ev runs as one process (cluster mode not available)"
    fi
}
raptor_build_here() {
    local product
    for product in raptor-testapp raptor-ev; do
        log "building $product (release) in $REPO_ROOT"
        (cd "$REPO_ROOT" && timeout 1800 swift build -c release --product "$product" >&2) ||
            die "swift build -c release --product $product failed (run with --servers nginx,puma,hummingbird to bench the others)"
    done
    local built
    built=$(cd "$REPO_ROOT" && swift build -c release --show-bin-path)
    [[ -x $built/raptor-testapp && -x $built/raptor-ev ]] ||
        die "raptor-testapp or raptor-ev not found in $built after the build"
    # A snapshot: a rebuild in the checkout during the run must not change the binary the
    # later scenarios start (the Swift runtime is found through the absolute RUNPATH).
    RAPTOR_BIN_DIR="$WORK_DIR/bin"
    mkdir -p "$RAPTOR_BIN_DIR"
    cp "$built/raptor-testapp" "$built/raptor-ev" "$RAPTOR_BIN_DIR/"
}
raptor_version() {
    if [[ -n $RAPTOR_BIN_GIVEN ]]; then echo "raptor-ev (RAPTOR_BIN_DIR=$RAPTOR_BIN_GIVEN)"; return; fi
    echo "raptor-ev $(git -C "$REPO_ROOT" describe --always --dirty 2>/dev/null || echo '?')"
}
raptor_cmd() {  # PORT THREADS
    local port=$1 threads=$2
    if is_file_kind; then  # the static file server is the raptor-ev binary itself
        SERVER_CMD=("$RAPTOR_BIN_DIR/raptor-ev" serve "$STATIC_DIR")
    else
        SERVER_CMD=("$RAPTOR_BIN_DIR/raptor-testapp")
    fi
    if ((TLS)); then
        SERVER_CMD+=(--bind "ssl://127.0.0.1:$port?cert=$TLS_CERT&key=$TLS_KEY")
    else
        SERVER_CMD+=(--bind "tcp://127.0.0.1:$port")
    fi
    SERVER_CMD+=(--threads "$threads" --log-format json)
    local notes=()
    if ((RAPTOR_HAS_WORKERS)); then
        SERVER_CMD+=(--workers "$WORKERS")  # master + WORKERS workers, like nginx and Puma
    elif ((WORKERS > 1)); then
        notes+=("cluster mode not available (no --workers in this build): one process")
    fi
    if ((${#notes[@]})); then SERVER_NOTE=$(printf '%s; ' "${notes[@]}"); SERVER_NOTE=${SERVER_NOTE%; }; fi
}

server_raptor_inline_prepare() { raptor_build; }
server_raptor_inline_version() { raptor_version; }
server_raptor_inline()         { raptor_cmd "$1" 0; }

server_raptor_pool_prepare()   { raptor_build; }
server_raptor_pool_version()   { raptor_version; }
server_raptor_pool()           { raptor_cmd "$1" 5; }

# The test app's async handler (RAPTOR_TESTAPP_APPLICATION=async): each request a Task in
# the worker; --threads plays no part. GET / is the same hello; /slow?ms=N awaits a timer
# where the sync app's /slow blocks its thread.
server_raptor_async_prepare()  { raptor_build; }
server_raptor_async_version()  { raptor_version; }
server_raptor_async()          { raptor_cmd "$1" 0; SERVER_CMD=(env RAPTOR_TESTAPP_APPLICATION=async "${SERVER_CMD[@]}"); }

# --- nginx (Debian nginx-light; private prefix, never the system instance) -------------

server_nginx_prepare() { ensure_debian_packages nginx=nginx-light; }
server_nginx_version() { nginx -v 2>&1 | sed 's/^nginx version: //'; }
server_nginx() {  # PORT DIR
    local port=$1 dir=$2 nginx
    nginx=$(command -v nginx || echo /usr/sbin/nginx)
    mkdir -p "$dir/logs" "$dir/tmp"
    # TLS: raptor-ev's settings (TLS 1.2 and 1.3, Mozilla's intermediate ciphers in the
    # server's order, X25519 and P-256); nginx's own defaults otherwise (tickets on, no
    # session cache).
    local listen_ssl="" tls_directives="" listen_http2="" requests=1000
    # HTTP/2: on ssl, h2 by ALPN; on plain, h2c only (prior knowledge). keepalive_requests
    # also caps an h2 connection's streams (nginx 1.19.7+), and h2load does not reconnect
    # after the GOAWAY: the load would end after 1000 requests per connection.
    if ((H2)); then listen_http2=http2 requests=100000000; fi
    if ((TLS)); then
        listen_ssl=ssl
        tls_directives="ssl_certificate $TLS_CERT; ssl_certificate_key $TLS_KEY; ssl_protocols TLSv1.2 TLSv1.3;"
        tls_directives+=" ssl_ciphers $TLS_CIPHERS; ssl_prefer_server_ciphers on; ssl_ecdh_curve X25519:prime256v1;"
    fi
    sed -e "s|@PORT@|$port|g" -e "s|@KEEPALIVE_REQUESTS@|$requests|g" -e "s|@DIR@|$dir|g" -e "s|@WORKERS@|$WORKERS|g" \
        -e "s|@STATIC_DIR@|$STATIC_DIR|g" -e "s|@SSL@|$listen_ssl|g" -e "s|@HTTP2@|$listen_http2|g" -e "s|@TLS@|$tls_directives|g" \
        "$BENCH_DIR/nginx.conf.template" >"$dir/nginx.conf"
    # -e: error log before the config is read (the compiled-in path is /var/log/nginx).
    SERVER_CMD=("$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" -g 'daemon off;')
}

# --- h2o (Debian h2o 2.2.5, with mruby): one process, num-threads = WORKERS ---------------
# Files from file.dir (its defaults: ETag, ranges, its own open-file cache); hello and the POST
# sink in mruby, h2o's way of answering without a backend (it has no `return 200 "..."`). The
# config is made for the scenario's KIND, so a file scenario runs through the file handler only.

server_h2o_prepare() { ensure_debian_packages h2o=h2o; }
server_h2o_version() { h2o --version 2>&1 | head -n1 | sed 's/^h2o version /h2o /'; }
server_h2o() {  # PORT DIR
    local port=$1 dir=$2 paths
    if is_file_kind; then
        paths="      \"/\":
        file.dir: $STATIC_DIR"
    else
        paths="      \"/post\":
        mruby.handler: |
          Proc.new do |env|
            env[\"rack.input\"].read
            [200, {\"content-type\" => \"text/plain\"}, [\"Hello, World!\"]]
          end
      \"/\":
        mruby.handler: |
          Proc.new do |env|
            [200, {\"content-type\" => \"text/plain\"}, [\"Hello, World!\"]]
          end"
    fi
    # TLS: raptor-ev's settings (TLS 1.2 and 1.3, Mozilla's intermediate ciphers in the
    # server's order); h2o's own session defaults (tickets).
    local tls=""
    if ((TLS)); then
        tls="  ssl:
    certificate-file: $TLS_CERT
    key-file: $TLS_KEY
    minimum-version: TLSv1.2
    cipher-suite: $TLS_CIPHERS
    cipher-preference: server"
    fi
    # user: h2o refuses to run as root without it (it would drop to nobody, who cannot read
    # the work dir). max-connections: as nginx's worker_connections, for idle-10k.
    cat >"$dir/h2o.conf" <<CONF
$( (($(id -u) == 0)) && echo "user: root")
num-threads: $WORKERS
max-connections: 16384
pid-file: $dir/h2o.pid
error-log: $dir/error.log
listen:
  host: 127.0.0.1
  port: $port
$tls
hosts:
  default:
    paths:
$paths
CONF
    SERVER_CMD=(h2o -c "$dir/h2o.conf")
    SERVER_NOTE="one process; num-threads $WORKERS"
}

# --- Puma (Debian puma + ruby-rack), cluster mode, the Rack app of puma/config.ru -------

server_puma_prepare() { ensure_debian_packages puma=puma =ruby-rack; }
server_puma_version() { echo "$(puma --version 2>&1 | head -n1), $(ruby -v | cut -d" " -f1-2), rack $(ruby -e 'require "rack"; print Rack.release' 2>/dev/null)"; }
server_puma() {  # PORT DIR
    # -w: cluster mode (a master and WORKERS forked workers) even for 1 worker, like nginx;
    # -t 5:5: five threads per worker; -q: no request log; keep-alive is Puma's default.
    SERVER_CMD=(env "BENCH_STATIC_DIR=$STATIC_DIR" puma --no-config -q -e production
        -w "$WORKERS" -t 5:5 -b "tcp://127.0.0.1:$1" "$BENCH_DIR/puma/config.ru")
}

# --- Hummingbird 2 (SwiftPM package hello-hummingbird/, built in release) ---------------
# Not named bench/hummingbird: SwiftPM takes a root package's identity from its directory
# name, and one called "hummingbird" collides with the dependency of that identity.

HB_DIR=$BENCH_DIR/hello-hummingbird
HB_BIN=""

server_hummingbird_prepare() {
    log "building the Hummingbird peer (release): swift build -c release --package-path ${HB_DIR#"$REPO_ROOT"/}"
    timeout 1800 swift build -c release --package-path "$HB_DIR" >&2 ||
        die "swift build -c release --package-path $HB_DIR failed"
    HB_BIN="$(swift build -c release --package-path "$HB_DIR" --show-bin-path)/HelloHummingbird"
    [[ -x $HB_BIN ]] || die "HelloHummingbird not found at $HB_BIN after the build"
}
server_hummingbird_version() {
    python3 - "$HB_DIR/Package.resolved" <<'PY'
import json, sys
try:
    pins = json.load(open(sys.argv[1]))["pins"]
    print("hummingbird " + next(p["state"].get("version") or p["state"].get("revision", "?")
                               for p in pins if p["identity"] == "hummingbird"))
except (OSError, KeyError, StopIteration, ValueError):
    print("hummingbird ?")
PY
}
server_hummingbird() {  # PORT DIR
    # One process: arg 2 sets MultiThreadedEventLoopGroup(numberOfThreads:) (and the file I/O
    # NIOThreadPool) to the worker count; handlers run on Swift's global executor.
    SERVER_CMD=("$HB_BIN" "$1" "$WORKERS" "$STATIC_DIR")
    SERVER_NOTE="one process; SwiftNIO MultiThreadedEventLoopGroup(numberOfThreads: $WORKERS) (2nd argument), handlers on Swift's global concurrency pool"
}

# shellcheck shell=bash
# Load scenarios: one entry in SCENARIOS_ALL plus one scenario_<name> function each.
#
# scenario_<name> sets (run.sh resets them to the defaults in brackets before each call):
#   WRK_ARGS   array of wrk options (besides -d, --latency and the URL, added by run.sh)
#   URL_PATH   path requested [/]; a server may answer it elsewhere (SERVER_URL_PATH)
#   KIND       what the servers must answer [hello]: hello (GET / -> "Hello, World!"),
#              static (GET URL_PATH -> that file of STATIC_DIR, byte for byte),
#              range (a Range GET of URL_PATH -> 206 with those bytes of the file),
#              conditional (GET URL_PATH with the server's own ETag in If-None-Match -> 304;
#              run.sh adds that header to the load per server, from SERVER_ETAG),
#              post (POST URL_PATH with a POST_BYTES body -> read it, answer 200);
#              servers_sh reads it to pick a command, wait_ready.py to check the answer
#   SCENARIO_SERVERS  [all] the servers this scenario is for (intersected with --servers):
#              the file scenarios beyond static-1mib compare raptor-ev with the native file
#              servers (nginx, h2o); Puma's Rack::Files has no ETag at all
#   LOAD       the load generator [wrk]: wrk, or idle (lib/idle_conns.py: IDLE_CONNS
#              keep-alive connections, one GET each, then held idle; RSS before/after), or
#              s_time (openssl s_time -reuse: one connection at a time, each resuming the
#              first one's TLS session, GET / on each), or h2load (HTTP/2, H2LOAD_ARGS)
#   H2         [0] 1: HTTP/2 (load h2load): over TLS (h2 by ALPN) with TLS=1, else h2c with prior
#              knowledge; nginx's listen gets `http2`; a server that does not answer over
#              HTTP/2 is recorded as not run (a failed row) instead of stopping the bench
#   H2LOAD_ARGS  array of h2load options (besides -D and the URL, added by run.sh)
#   TLS        [0] 1: the servers listen with TLS (a throwaway ECDSA P-256 certificate made by
#              run.sh, TLS_CERT/TLS_KEY) and the load speaks https; these scenarios run the
#              servers of TLS_PEERS
#   RESTART_PER_RUN  [0] 1: fresh servers for every run (so that each run's "before" is a
#              server that never held the load), instead of one start per scenario
# Function names use _ where the scenario name uses -.

SCENARIOS_ALL=(hello-c64 hello-c256 close-c32 pipeline-c64 static-1mib post-64kib idle-10k
    file-13b-c64 file-13b-close-c32 file-304-c64 file-range-64kib
    tls-hello-c64 tls-close-c32 tls-resume-c1 tls-static-1mib tls-idle-10k
    async-hello-c64 io-10ms-c256
    h2-hello-c16m32 h2c-hello-c16m32)
SCENARIOS_DEFAULT=("${SCENARIOS_ALL[@]}")

# Created in STATIC_DIR by run.sh: 1 MiB of random bytes, the 13 bytes "Hello, World!",
# and (only when file-range-64kib runs) 100 MiB of random bytes.
STATIC_FILE=1mib.bin
SMALL_FILE=13b.txt
RANGE_FILE=100mib.bin
RANGE_FILE_BYTES=104857600   # must match lua/range.lua
FILE_PEERS=(raptor-inline raptor-pool nginx h2o)
# The servers the TLS scenarios compare (set up for TLS in servers.sh; Puma and Hummingbird
# are not).
TLS_PEERS=(raptor-inline raptor-pool nginx h2o)
# The servers the HTTP/2 scenarios compare (nginx and h2o speak h2 and h2c natively).
H2_PEERS=(raptor-inline raptor-pool raptor-async nginx h2o)

# True when the scenario's servers serve STATIC_DIR (raptor-ev serve, nginx root, h2o file.dir).
is_file_kind() { [[ $KIND == static || $KIND == range || $KIND == conditional ]]; }
POST_BYTES=65536       # must match lua/post.lua
IDLE_CONNS=${IDLE_CONNS:-10000}

# Keep-alive hello world, 64 connections, one wrk thread.
scenario_hello_c64()    { WRK_ARGS=(-t1 -c64); }
# Same with 256 connections.
scenario_hello_c256()   { WRK_ARGS=(-t1 -c256); }
# A new connection per request: every request says Connection: close, the server closes
# after the response, wrk reconnects.
scenario_close_c32()    { WRK_ARGS=(-t1 -c32 -H 'Connection: close'); }
# Pipelining: 16 GET / per write (lua/pipeline.lua), 64 connections.
scenario_pipeline_c64() { WRK_ARGS=(-t1 -c64 -s "$BENCH_DIR/lua/pipeline.lua"); }
# A 1 MiB static file (from the page cache), 32 connections.
scenario_static_1mib()  { WRK_ARGS=(-t1 -c32); URL_PATH=/$STATIC_FILE; KIND=static; }
# POST of a 64 KiB body (lua/post.lua) that the server reads; 13-byte answer. 32 connections.
scenario_post_64kib()   { WRK_ARGS=(-t1 -c32 -s "$BENCH_DIR/lua/post.lua"); URL_PATH=/post; KIND=post; }
# 10,000 idle keep-alive connections: RSS per connection (lib/idle_conns.py).
scenario_idle_10k()     { LOAD=idle; RESTART_PER_RUN=1; }
# A 13-byte file over keep-alive, 64 connections: what the open-file cache is for.
scenario_file_13b_c64() { WRK_ARGS=(-t1 -c64); URL_PATH=/$SMALL_FILE; KIND=static; SCENARIO_SERVERS=("${FILE_PEERS[@]}"); }
# The same file on a new connection per request.
scenario_file_13b_close_c32() {
    WRK_ARGS=(-t1 -c32 -H 'Connection: close'); URL_PATH=/$SMALL_FILE; KIND=static
    SCENARIO_SERVERS=("${FILE_PEERS[@]}")
}
# Revalidation hits: every GET carries the server's own ETag of the 13-byte file in
# If-None-Match and gets 304.
scenario_file_304_c64() { WRK_ARGS=(-t1 -c64); URL_PATH=/$SMALL_FILE; KIND=conditional; SCENARIO_SERVERS=("${FILE_PEERS[@]}"); }
# 206: a random 64 KiB range of a 100 MiB file per request (lua/range.lua), 32 connections.
scenario_file_range_64kib() {
    WRK_ARGS=(-t1 -c32 -s "$BENCH_DIR/lua/range.lua"); URL_PATH=/$RANGE_FILE; KIND=range
    SCENARIO_SERVERS=("${FILE_PEERS[@]}")
}
# Async handlers against the pool: keep-alive hello, 64 connections (CPU per request of a
# Task per request against an app thread's).
scenario_async_hello_c64() { WRK_ARGS=(-t1 -c64); SCENARIO_SERVERS=(raptor-pool raptor-async); }
# I/O bound: each request waits 10 ms (the async handler awaits a timer, the pool's blocks
# its thread: 5 threads), 256 connections; req/s and memory.
scenario_io_10ms_c256() { WRK_ARGS=(-t1 -c256); URL_PATH='/slow?ms=10'; SCENARIO_SERVERS=(raptor-pool raptor-async); }
# The same over TLS: keep-alive hello (wrk https), 64 connections.
scenario_tls_hello_c64()   { WRK_ARGS=(-t1 -c64); TLS=1; SCENARIO_SERVERS=("${TLS_PEERS[@]}"); }
# A new TLS connection per request, full handshake each time (wrk does not resume
# sessions), 32 connections.
scenario_tls_close_c32()   { WRK_ARGS=(-t1 -c32 -H 'Connection: close'); TLS=1; SCENARIO_SERVERS=("${TLS_PEERS[@]}"); }
# A new TLS connection per request resuming a session (a ticket): openssl s_time -reuse,
# one connection at a time (the only resuming load tool at hand).
scenario_tls_resume_c1()   { LOAD=s_time; TLS=1; SCENARIO_SERVERS=("${TLS_PEERS[@]}"); }
# The 1 MiB file over TLS, 32 connections.
scenario_tls_static_1mib() { WRK_ARGS=(-t1 -c32); URL_PATH=/$STATIC_FILE; KIND=static; TLS=1; SCENARIO_SERVERS=("${TLS_PEERS[@]}"); }
# 10,000 idle TLS keep-alive connections: RSS per connection (held idle 3 s, long enough for
# a server that gives back an idle connection's record buffers after a second).
scenario_tls_idle_10k()    { LOAD=idle; RESTART_PER_RUN=1; TLS=1; SCENARIO_SERVERS=("${TLS_PEERS[@]}"); }
# HTTP/2 over TLS (h2 chosen by ALPN): h2load, 16 connections with 32 streams at once each,
# GET / (13 bytes).
scenario_h2_hello_c16m32()  { LOAD=h2load; H2LOAD_ARGS=(-t1 -c16 -m32); H2=1; TLS=1; SCENARIO_SERVERS=("${H2_PEERS[@]}"); }
# The same over cleartext: h2c with prior knowledge (what a load balancer speaks to a back end).
scenario_h2c_hello_c16m32() { LOAD=h2load; H2LOAD_ARGS=(-t1 -c16 -m32); H2=1; SCENARIO_SERVERS=("${H2_PEERS[@]}"); }

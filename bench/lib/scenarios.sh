# shellcheck shell=bash
# Load scenarios: one entry in SCENARIOS_ALL plus one scenario_<name> function each.
#
# scenario_<name> sets (run.sh resets them to the defaults in brackets before each call):
#   WRK_ARGS   array of wrk options (besides -d, --latency and the URL, added by run.sh)
#   URL_PATH   path requested [/]; a server may answer it elsewhere (SERVER_URL_PATH)
#   KIND       what the servers must answer [hello]: hello (GET / -> "Hello, World!"),
#              static (GET URL_PATH -> the 1 MiB file STATIC_FILE of STATIC_DIR),
#              post (POST URL_PATH with a POST_BYTES body -> read it, answer 200);
#              servers_sh reads it to pick a command, wait_ready.py to check the answer
#   LOAD       the load generator [wrk]: wrk, or idle (lib/idle_conns.py: IDLE_CONNS
#              keep-alive connections, one GET each, then held idle; RSS before/after)
#   RESTART_PER_RUN  [0] 1: fresh servers for every run (so that each run's "before" is a
#              server that never held the load), instead of one start per scenario
# Function names use _ where the scenario name uses -.

SCENARIOS_ALL=(hello-c64 hello-c256 close-c32 pipeline-c64 static-1mib post-64kib idle-10k)
SCENARIOS_DEFAULT=("${SCENARIOS_ALL[@]}")

STATIC_FILE=1mib.bin   # created in STATIC_DIR by run.sh: 1 MiB of random bytes
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

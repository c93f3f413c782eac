# shellcheck shell=bash
# Load scenarios: one entry in SCENARIOS_ALL plus one scenario_<name> function each.
#
# scenario_<name> sets:
#   WRK_ARGS   array of wrk options (besides -d, --latency and the URL, added by run.sh)
#   URL_PATH   path requested (default /)
# Function names use _ where the scenario name uses -.

SCENARIOS_ALL=(hello-c64 hello-c256)
SCENARIOS_DEFAULT=(hello-c64)

# Keep-alive hello world, 64 connections, one wrk thread.
scenario_hello_c64()  { WRK_ARGS=(-t1 -c64);  URL_PATH=/; }
# Same with 256 connections.
scenario_hello_c256() { WRK_ARGS=(-t1 -c256); URL_PATH=/; }

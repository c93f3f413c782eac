#!/usr/bin/env bash
# What HTTP linters say of raptor-ev's static files: REDbot (which also makes its own range
# and conditional requests) on a plain file, a file with a precompressed sibling and a
# fingerprinted asset; httplint on captured responses: a 200, a single range (206), a
# multipart range (206), a revalidation by ETag and by date (304) and an unsatisfiable
# range (416). Prints every note with its level; exits 1 when any is BAD (except the one
# known false positive below).
#
#   bash bench/http-lint.sh [RAPTOR_EV_BINARY]     (default: builds and uses the debug build)
#
# Known false positive: httplint marks every 206 without a top-level Content-Range as BAD,
# but a multipart/byteranges 206 must not have one (RFC 9110 section 15.3.7.2: each part
# carries its own); that note on the multipart response is reported and not counted.
set -euo pipefail
shopt -s lastpipe  # report() counts BAD notes in the shell itself, at the end of a pipe

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
source "$BENCH_DIR/lib/common.sh"

ensure_python_packages() {  # MODULE=PACKAGE...: pip-installs what python3 cannot import
    local spec missing=()
    for spec in "$@"; do python3 -c "import ${spec%%=*}" 2>/dev/null || missing+=("${spec#*=}"); done
    ((${#missing[@]})) || return 0
    log "installing from PyPI: ${missing[*]}"
    timeout 600 python3 -m pip install -q "${missing[@]}" >&2 || die "pip install ${missing[*]} failed"
}
ensure_python_packages redbot=redbot httplint=httplint
ensure_debian_packages curl=curl

BINARY=${1:-}
if [[ -z $BINARY ]]; then
    log "building raptor-ev (debug)"
    (cd "$REPO_ROOT" && timeout 1800 swift build --product raptor-ev >&2) || die "swift build failed"
    BINARY="$(cd "$REPO_ROOT" && swift build --show-bin-path)/raptor-ev"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/raptor-lint.XXXXXX")
SERVER_PID=""
cleanup() {
    [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# The site: a page, a script with a gzip sibling, a fingerprinted asset, a larger binary.
SITE=$WORK/site
mkdir -p "$SITE"
python3 - "$SITE" <<'PY'
import os, sys
site = sys.argv[1]
page = "<!doctype html>\n<title>lint</title>\n" + "<p>static files under lint</p>\n" * 200
script = "export function add(a, b) { return a + b; }\n" * 200
open(os.path.join(site, "page.html"), "w").write(page)
open(os.path.join(site, "app.js"), "w").write(script)
open(os.path.join(site, "app.3f9a1c2b.js"), "w").write(script)
open(os.path.join(site, "data.bin"), "wb").write(os.urandom(100_000))
PY
gzip -k -9 "$SITE/app.js"
# Modified an hour ago: the notes are about this server's answers, not about a file written
# in the same second as the request (the Date/Last-Modified rule has its own test).
touch -d '1 hour ago' "$SITE"/*

PORT=$(free_port)
"$BINARY" serve "$SITE" --bind "tcp://127.0.0.1:$PORT" --workers 0 --threads 2 --log-format json \
    --cache-control 'max-age=3600' --cache-fingerprinted >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/page.html" && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; die "raptor-ev exited"; }
    sleep 0.1
done
BASE=http://127.0.0.1:$PORT

BAD=0
report() {  # LABEL, then "LEVEL summary" lines on stdin
    local label=$1 line
    echo "## $label"
    while IFS= read -r line; do
        echo "  $line"
        if [[ $line == "[BAD]"* ]]; then
            if [[ $label == *multipart* && $line == *"doesn't have a Content-Range header"* ]]; then
                echo "    (not counted: false positive, RFC 9110 section 15.3.7.2)"
            else
                BAD=$((BAD + 1))
            fi
        fi
    done
}

for path in /page.html /app.js /app.3f9a1c2b.js /data.bin; do
    timeout 120 redbot -o har "$BASE$path" >"$WORK/redbot.har" || die "redbot failed on $path"
    python3 - "$WORK/redbot.har" <<'PY' | report "REDbot $path (its own range and conditional requests included)"
import json, sys
for entry in json.load(open(sys.argv[1]))["log"]["entries"]:
    for note in entry["_red_messages"]:
        print(f"[{note['level']}] {note['summary']} ({note['note_id']})")
PY
done

lint() {  # LABEL CURL_ARGS...: httplint on the raw response
    local label=$1
    shift
    curl -s -i "$@" >"$WORK/response.txt"
    head -n1 "$WORK/response.txt" | tr -d '\r' | sed 's/^/  /' >"$WORK/status.txt"
    { cat "$WORK/status.txt"; timeout 120 httplint <"$WORK/response.txt" | grep '^\* \[' | sed 's/^\* //'; } |
        report "httplint: $label"
}
ETAG=$(curl -s -o /dev/null -D - "$BASE/page.html" | tr -d '\r' | sed -n 's/^ETag: //Ip')
LAST_MODIFIED=$(curl -s -o /dev/null -D - "$BASE/page.html" | tr -d '\r' | sed -n 's/^Last-Modified: //Ip')
lint "200, a file" "$BASE/page.html"
lint "200, a precompressed sibling (gzip)" -H 'Accept-Encoding: gzip' "$BASE/app.js"
lint "206, a range" -H 'Range: bytes=100-199' "$BASE/data.bin"
lint "206, multipart ranges" -H 'Range: bytes=0-99,50000-50099' "$BASE/data.bin"
lint "304, revalidation by ETag" -H "If-None-Match: $ETAG" "$BASE/page.html"
lint "304, revalidation by date" -H "If-Modified-Since: $LAST_MODIFIED" "$BASE/page.html"
lint "416, a range past the end" -H 'Range: bytes=200000-' "$BASE/data.bin"

echo
if ((BAD > 0)); then
    echo "$BAD BAD note(s)"
    exit 1
fi
echo "no BAD note"

# raptor-ev: two commands set everything up on a fresh Debian machine with Swift:
#   make serve   installs the C libraries if missing, builds (release), serves ./public
#   make test    the same set-up, then every test
SWIFT      ?= swift
DIR        ?= public
BIND       ?= tcp://0.0.0.0:9292
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEB_DEPS   := libev-dev libhttp-parser-dev libssl-dev libnghttp2-dev
# test tools by command (nghttp and h2load come in Debian's nghttp2-client); Python's h2 and
# hpack (the raw HTTP/2 client of the tests) in python3-h2, or from PyPI (test-deps)
TEST_DEPS  := curl python3 wrk openssl strace nghttp h2load
CFLAGS_CHECK := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fsyntax-only -ICShims/CRaptor/include \
                -ICShims/CTestTLS/include
C_SOURCES  := $(wildcard CShims/CRaptor/*.c CShims/CTestTLS/*.c fuzz/*.c)

.PHONY: all deps test-deps promtool build build-debug serve test sanitize sanitize-address sanitize-thread check-c readme-check fuzz format bench clean \
	scale-test scale-test-deps

all: build

# The C libraries (libev 4.33, http_parser 2.9.4, OpenSSL 3.0, nghttp2 1.52 on Debian 12): installed
# only when a header is missing, so the common case costs nothing and needs no network.
deps:
	@if [ ! -f /usr/include/ev.h ] || [ ! -f /usr/include/http_parser.h ] || [ ! -f /usr/include/openssl/ssl.h ] \
	  || [ ! -f /usr/include/nghttp2/nghttp2.h ]; then \
	  echo "Installing $(DEB_DEPS)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(DEB_DEPS); \
	fi

test-deps: deps
	@missing=""; for tool in $(TEST_DEPS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	missing=$$(echo $$missing | sed 's/\bnghttp\b/nghttp2-client/; s/\bh2load\b/nghttp2-client/'); \
	python3 -c 'import h2, hpack' 2>/dev/null || missing="$$missing python3-h2"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$(echo $$missing | tr ' ' '\n' | sort -u); \
	fi
	@# The python3 first on PATH may not be Debian's (pyenv's, on the CI machines), and then
	@# python3-h2 does not reach it: that interpreter gets Debian's versions from PyPI.
	@python3 -c 'import h2, hpack' 2>/dev/null || { \
	  echo "Installing h2 and hpack for $$(command -v python3) (pip)"; \
	  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore h2==4.1.0 hpack==4.0.0; }

# promtool, the Prometheus project's checker of /metrics (ClusterMetricsTests): taken out
# of Debian's prometheus package, never installed (installing it would start a server).
PROMTOOL := .build/tools/promtool
promtool: $(PROMTOOL)
$(PROMTOOL):
	@mkdir -p .build/tools/deb
	@cd .build/tools/deb && { apt-get download prometheus >/dev/null 2>&1 \
	    || { $(SUDO) apt-get update -qq && apt-get download prometheus >/dev/null 2>&1; }; } \
	  && dpkg-deb -x prometheus_*.deb extract && cp extract/usr/bin/promtool ../promtool \
	  && echo "promtool: $$(../promtool --version 2>&1 | head -1)" \
	  || echo "promtool is not available: the metrics tests skip their promtool check"
	@rm -rf .build/tools/deb

build: deps
	$(SWIFT) build -c release

build-debug: deps
	$(SWIFT) build

serve: build
	$$($(SWIFT) build -c release --show-bin-path)/raptor-ev serve $(DIR) --bind $(BIND)

# C11 with -Wall -Wextra, warnings as errors: the shim stays clean.
check-c: deps
	@for file in $(C_SOURCES); do cc $(CFLAGS_CHECK) $$file || exit 1; done
	@echo "C shim: no warnings"

# README.md shows `raptor-ev serve --help` verbatim: this fails when they drift apart.
readme-check: build-debug
	@$$($(SWIFT) build --show-bin-path)/raptor-ev serve --help | awk 'NF { for (; blank > 0; blank--) print ""; print; next } { blank++ }' > .build/serve-help.txt
	@awk '/^```help$$/{inside=1; next} /^```$$/{inside=0} inside' README.md > .build/readme-help.txt
	@diff -u .build/readme-help.txt .build/serve-help.txt \
	  || { echo "README.md's help block differs from 'raptor-ev serve --help' (update README.md)"; exit 1; }
	@echo "README.md: the help block matches raptor-ev serve --help"

test: test-deps promtool check-c readme-check fuzz
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	@$(MAKE) --no-print-directory scale-test SCALE_TEST_OPTIONAL=1

# The rolling deploy across three hosts behind HAProxy (scale-test/run.sh, docs/rolling-deploy.md):
# network namespaces, so root. `make test` runs it where the machine allows and says so
# where it does not (SCALE_TEST_OPTIONAL=1); asked for by name, a machine that cannot run it
# is an error.
scale-test-deps: deps
	@command -v haproxy >/dev/null || { echo "Installing haproxy"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends haproxy; }

scale-test: build-debug
	@if [ "$$(id -u)" != 0 ]; then echo "scale-test skipped: network namespaces need root" >&2; \
	  [ -n "$(SCALE_TEST_OPTIONAL)" ]; exit; fi
	@$(MAKE) --no-print-directory scale-test-deps
	@status=0; bash scale-test/run.sh --bin "$$($(SWIFT) build --show-bin-path)" || status=$$?; \
	if [ $$status = 77 ] && [ -n "$(SCALE_TEST_OPTIONAL)" ]; then status=0; fi; exit $$status

# The request parser under libFuzzer with AddressSanitizer and UndefinedBehaviorSanitizer
# (fuzz/README.md): FUZZ_SECONDS of fuzzing from the committed corpus, CI with 30 (.ci/run).
# New inputs go to .build/fuzz/corpus, a failing one to .build/fuzz/crash-*.
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= $(shell dirname "$$(readlink -f "$$(command -v $(SWIFT))")")/clang
FUZZ_SOURCES := $(addprefix CShims/CRaptor/,parser.c request_line.c fields.c chunked.c field_list.c body.c chars.c) \
                fuzz/parser_fuzz.c

.build/fuzz/parser_fuzz: $(FUZZ_SOURCES) $(wildcard CShims/CRaptor/*.h CShims/CRaptor/include/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -g -O1 -fuse-ld=lld -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=undefined -ICShims/CRaptor/include $(FUZZ_SOURCES) -lhttp_parser -o $@

fuzz: deps .build/fuzz/parser_fuzz
	@mkdir -p .build/fuzz/corpus
	.build/fuzz/parser_fuzz -max_total_time=$(FUZZ_SECONDS) -dict=fuzz/http.dict -artifact_prefix=.build/fuzz/ \
	  -print_final_stats=1 .build/fuzz/corpus fuzz/corpus

# make sanitize = sanitize-address + sanitize-thread. sanitize-address: the whole suite under
# AddressSanitizer + UndefinedBehaviorSanitizer (CI runs it after `make test`);
# sanitize-thread: the concurrency tests (pool hand-back, graceful stop, the stopped-reader
# handshake, backpressure, the per-thread Date, the warning thread) under ThreadSanitizer.
# Each builds in its own directory. Swift has no UBSan on Linux: -fsanitize=undefined
# instruments the C shim, and the ASan runtime carries UBSan's. The integration tests run the
# binaries next to the test bundle, i.e. the sanitized ones (RAPTOR_BIN_DIR is cleared, and
# each binary must start its sanitizer's runtime). Every process (test runner, server,
# master, worker) writes its reports under .build/sanitizer-logs, and any report fails the
# target. Leaks are checked in the servers; the test runner's (XCTest keeps its test objects
# to the end) are suppressed. Not run under ASan: the Install tests (they build and test their
# own, unsanitized binaries), the 100 MiB upload (the test app's debug checksum loop alone
# outlasts the test's 90 s bound under ASan; the parser's unit tests spool bodies under ASan)
# and the backpressure test (it needs the worker to read 20 requests well within the 5 s its
# two app threads take to serve them; under ASan or TSan the pause is sometimes over before
# its late connections arrive), and the tests that measure the server's process itself:
# under strace (accepts per wake-up, TCP_NODELAY, closes of file regions: LeakSanitizer
# refuses to run under ptrace and the server exits 1), its descriptor count (the sanitizer
# runtime opens its own) and its heap growth (ASan's allocator is not glibc's).
SANITIZER_LOGS := $(CURDIR)/.build/sanitizer-logs
LSAN_SUPPRESSIONS := $(CURDIR)/.build/lsan-test-runner.supp
ASAN_SKIP  := Install|hundredMebibyte|aLargeUploadStreamsInBoundedMemory|backpressurePausesAccepting|AcceptBatchTests|NoDelayTests|IdleBufferTests|HTTP2IdleTests|regionsAreClosedOnce|regionsOwnTheirDescriptors|largeUploadIsReadInBoundedBursts
# CI's time (30 minutes for `make test` and this) does not cover the whole suite under ASan any
# more: `make sanitize-address ASAN_SCOPE=ci` (what .ci/run runs) also leaves out what runs
# little C the other suites do not run: the cluster's supervision, restarts and metrics (the
# master is Swift; its workers' engine is the one the other suites drive), the drain runs
# under load (GracefulStopTests and the HTTP/2 stop suites cover the engine's stop), the
# HTTP/2 restarts under h2load, the tests that only compile programs or check the command
# line, and two suites that mostly wait out seconds on Swift code (the open-file cache's
# revalidation, the Date header's second). `make sanitize-address` alone runs everything above.
ASAN_CI_SKIP := Cluster|DrainTests|HTTP2RestartTests|PublicSurfaceTests|CommandLineErrorTests|ForkGuardTests|IgnoredSignalTests|StaticFileCacheTests|DateFreshnessTests
ASAN_SCOPE ?= all
ASAN_SKIP_RUN := $(ASAN_SKIP)$(if $(filter ci,$(ASAN_SCOPE)),|$(ASAN_CI_SKIP))
# ASAN_SCOPE=ci also runs the tests made for every mode (ServerMode.all: inline and pool,
# tcp and tls) in two of the four, inline over tls and pool over tcp (RAPTOR_TEST_MODES=pairs):
# every dispatch and every transport, not every pair. `make test` runs all four.
ASAN_MODES := $(if $(filter ci,$(ASAN_SCOPE)),pairs,all)
TSAN_TESTS := GracefulStop|DrainTests|Pipelining|KeepAlive|SlowReader|LoadShedding|HandlerTests|DateFreshness|OpenFilesLimit|WorkerStop

# $(call sanitized-run,NAME,RUNTIME-NAME,OPTIONS-VARIABLE,TEST-COMMAND): checks that both
# binaries start RUNTIME-NAME, runs TEST-COMMAND with reports in SANITIZER_LOGS/NAME, fails
# on a failed test or on any report.
define sanitized-run
	@for binary in raptor-ev raptor-testapp; do \
	  $(3)=help=1 .build/$(1)/debug/$$binary --version 2>&1 | grep -q $(2) \
	    || { echo "sanitize: .build/$(1)/debug/$$binary does not run $(2)"; exit 1; }; \
	done
	@rm -rf $(SANITIZER_LOGS)/$(1) && mkdir -p $(SANITIZER_LOGS)/$(1)
	@status=0; env -u RAPTOR_BIN_DIR $(4) || status=1; \
	if [ -n "$$(ls -A $(SANITIZER_LOGS)/$(1))" ]; then \
	  echo "sanitize: $(2) reports in $(SANITIZER_LOGS)/$(1):"; cat $(SANITIZER_LOGS)/$(1)/*; status=1; \
	fi; \
	exit $$status
endef

sanitize: sanitize-address sanitize-thread

sanitize-address: test-deps
	$(SWIFT) build --build-tests --scratch-path .build/asan --sanitize=address \
	  -Xcc -fsanitize=undefined -Xcc -fno-sanitize-recover=undefined
	@printf 'leak:raptor-evPackageTests.xctest\nleak:libXCTest.so\n' > $(LSAN_SUPPRESSIONS)
	$(call sanitized-run,asan,AddressSanitizer,ASAN_OPTIONS,\
	  ASAN_OPTIONS=log_path=$(SANITIZER_LOGS)/asan/asan:detect_leaks=1 \
	  LSAN_OPTIONS=suppressions=$(LSAN_SUPPRESSIONS):print_suppressions=0 \
	  UBSAN_OPTIONS=log_path=$(SANITIZER_LOGS)/asan/ubsan:print_stacktrace=1 \
	  RAPTOR_TEST_MODES=$(ASAN_MODES) \
	  $(SWIFT) test --skip-build --scratch-path .build/asan --sanitize=address --skip '$(ASAN_SKIP_RUN)')

sanitize-thread: test-deps
	$(SWIFT) build --build-tests --scratch-path .build/tsan --sanitize=thread
	$(call sanitized-run,tsan,ThreadSanitizer,TSAN_OPTIONS,\
	  TSAN_OPTIONS=log_path=$(SANITIZER_LOGS)/tsan/tsan \
	  $(SWIFT) test --skip-build --scratch-path .build/tsan --sanitize=thread --filter '$(TSAN_TESTS)')

format:
	$(SWIFT) format --in-place --recursive Sources Tests Examples bench/hello-hummingbird Package.swift

bench: deps
	bash bench/run.sh

clean:
	rm -rf .build

# Installing and packaging (the logic is in packaging/; README.md, "Using libraptor from
# another Swift tool"): `make install` (PREFIX, DESTDIR), `make uninstall`, `make deb`.
PREFIX ?= /usr/local
.PHONY: install uninstall deb

install: deps
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" SWIFT="$(SWIFT)" bash packaging/install.sh install

uninstall:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" bash packaging/install.sh uninstall

deb: deps
	SWIFT="$(SWIFT)" bash packaging/deb.sh

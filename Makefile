# raptor-ev: two commands set everything up on a fresh Debian machine with Swift:
#   make serve   installs the C libraries if missing, builds (release), serves ./public
#   make test    the same set-up, then every test
SWIFT      ?= swift
DIR        ?= public
BIND       ?= tcp://0.0.0.0:9292
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEB_DEPS   := libev-dev libhttp-parser-dev
TEST_DEPS  := curl python3
CFLAGS_CHECK := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fsyntax-only -ICShims/CRaptor/include
C_SOURCES  := $(wildcard CShims/CRaptor/*.c)

.PHONY: all deps test-deps build build-debug serve test check-c readme-check format bench clean

all: build

# The C libraries (libev 4.33, http_parser 2.9.4 on Debian 12): installed only when a
# header is missing, so the common case costs nothing and needs no network.
deps:
	@if [ ! -f /usr/include/ev.h ] || [ ! -f /usr/include/http_parser.h ]; then \
	  echo "Installing $(DEB_DEPS)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(DEB_DEPS); \
	fi

test-deps: deps
	@missing=""; for tool in $(TEST_DEPS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; \
	fi

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

test: test-deps check-c readme-check
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

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

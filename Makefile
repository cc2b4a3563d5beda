# Two entry points: `make demo` and `make test`. Both install what they need first.
SHELL := /bin/bash
# node's test runner, two files at a time, the longest first (scripts/run-tests.mjs says why).
NODE_TEST := node --import tsx scripts/run-tests.mjs --concurrency 2
TESTS ?= $(shell find test -name '*.test.ts' | sort)

.PHONY: deps build test test-unit demo bench typecheck clean install uninstall

deps:
	@scripts/install-deps.sh

build: deps
	@node scripts/build.mjs

typecheck: deps
	npx tsc -p .
	npx tsc -p src/ui

test: build typecheck
	$(NODE_TEST) $(TESTS)

# Fast loop while developing: no installs, no type check.
test-only:
	@node scripts/build.mjs
	$(NODE_TEST) $(TESTS)

demo: build
	@bash examples/demo.sh

bench: build
	@for b in bench/*/main.ts; do echo "== $$b"; node --import tsx $$b || exit 1; done

# Puts the commands on the PATH as `npm install -g` would: PREFIX (default: npm's global prefix)/bin,
# the package in PREFIX/lib/node_modules/romana. DESTDIR stages it.
# It needs only node and npm (not the test tools `deps` installs), and no root with a PREFIX of your own.
install:
	@[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
	@node scripts/build.mjs
	@scripts/install.sh

uninstall:
	@scripts/install.sh uninstall

clean:
	rm -rf dist

# The two commands: `make demo` runs the demo, `make test` runs every test.
# Both install what they need first and skip what is already there.

CARGO ?= cargo
COLLECTOR_RELEASE := target/release/edgemetrics-collector
# Seconds the demo keeps the collector (and the dashboard) up after its report.
HOLD ?= 0
# Where the demo's collector stores: sqlite (the default) or clickhouse (a
# ClickHouse the demo starts from Debian's clickhouse-server).
SINK ?= sqlite

.PHONY: demo test setup setup-native setup-clickhouse dashboard check test-rust test-wasm test-edge lint bench

demo: setup dashboard
	@if [ "$(SINK)" = clickhouse ]; then scripts/setup-clickhouse.sh; fi
	$(CARGO) build --release -p edgemetrics-collector
	$(CARGO) run --release --features native --example demo -- \
		--collector $(COLLECTOR_RELEASE) --www www/dist --hold-secs $(HOLD) --sink $(SINK)

test: setup setup-clickhouse lint check test-rust test-wasm test-edge

# Toolchain targets: the no_std check target and wasm.
setup-native:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@rustup target list --installed | grep -qx thumbv7em-none-eabihf || rustup target add thumbv7em-none-eabihf

# Chromium, and the npm packages of pkg/, www/, the Worker example and the
# JS tests.
setup: setup-native
	scripts/setup-wasm.sh
	scripts/setup-edge.sh

# ClickHouse (Debian's clickhouse-server) for the ClickHouse sink's tests
# and `make demo SINK=clickhouse`.
setup-clickhouse:
	scripts/setup-clickhouse.sh

# The npm package's wasm core and the dashboard the demo serves.
dashboard:
	pkg/build.sh
	cd www && npm run build

# The engine builds without std at all (with and without the spare buffers
# of `recycle`), and the package's wasm core.
check:
	$(CARGO) build -p edgemetrics --no-default-features --target thumbv7em-none-eabihf
	$(CARGO) build -p edgemetrics --no-default-features --features recycle --target thumbv7em-none-eabihf
	$(CARGO) build -p edgemetrics --no-default-features --features wasm --target wasm32-unknown-unknown

test-rust:
	$(CARGO) build -p edgemetrics-collector
	$(CARGO) test --workspace --features native

test-wasm:
	scripts/test-wasm.sh

test-edge:
	scripts/test-edge.sh

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --features native -- -D warnings
	$(CARGO) clippy -p edgemetrics --target wasm32-unknown-unknown --no-default-features --features wasm -- -D warnings
	$(CARGO) clippy -p edgemetrics --target wasm32-unknown-unknown --no-default-features --features instruments -- -D warnings

bench:
	$(CARGO) bench --bench encode
	$(CARGO) bench --features native --bench native
	$(CARGO) bench -p edgemetrics-collector --bench ingest
	$(CARGO) bench -p edgemetrics-collector --bench memory
	$(CARGO) bench --bench instruments

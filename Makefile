# The two commands: `make demo` runs the demo, `make test` runs every test.
# Both install what they need first and skip what is already there.

CARGO ?= cargo
COLLECTOR_RELEASE := target/release/edgemetrics-collector

.PHONY: demo test setup setup-native check test-rust test-wasm lint bench

demo: setup-native
	$(CARGO) build --release -p edgemetrics-collector
	$(CARGO) run --release --features native --example demo -- --collector $(COLLECTOR_RELEASE) $(if $(wildcard www/dist/index.html),--www www/dist,)

test: setup check test-rust test-wasm

# Toolchain targets: no_std check target and wasm.
setup-native:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@rustup target list --installed | grep -qx thumbv7em-none-eabihf || rustup target add thumbv7em-none-eabihf

# Everything the browser, Worker and npm tests need (wasm-bindgen CLI at the
# version in Cargo.lock, Chromium and its driver, npm packages).
setup: setup-native
	@if [ -x scripts/setup-wasm.sh ]; then scripts/setup-wasm.sh; fi

# The engine builds without std at all, and for wasm.
check:
	$(CARGO) build -p edgemetrics --no-default-features --target thumbv7em-none-eabihf
	$(CARGO) build -p edgemetrics --target wasm32-unknown-unknown

test-rust:
	$(CARGO) build -p edgemetrics-collector
	$(CARGO) test --workspace --features native

test-wasm:
	@if [ -x scripts/test-wasm.sh ]; then scripts/test-wasm.sh; else echo "scripts/test-wasm.sh missing" >&2; exit 1; fi

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --features native -- -D warnings
	$(CARGO) clippy -p edgemetrics --target wasm32-unknown-unknown -- -D warnings

bench:
	$(CARGO) bench --bench encode

#!/usr/bin/env bash
# The whole test suite: installs what is missing, starts what the suites
# need (nats-server), then lint, unit + integration tests, the site build,
# and Playwright end-to-end in Debian's chromium. Under CI=true nothing may
# be skipped for a missing component.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
started=$(date +%s)
step() { log "$* (t+$(( $(date +%s) - started ))s)"; }

step "tools"
scripts/tools.sh test

# A persistent target dir grows with every change; start its debug half over
# when the disk runs low rather than fail half-way through a link.
free_kb=$(df -Pk "$(dirname "$CARGO_TARGET_DIR")" | awk 'NR==2 {print $4}')
if [ "${free_kb:-0}" -lt $((15 * 1024 * 1024)) ] && [ -d "$CARGO_TARGET_DIR/debug" ]; then
  step "less than 15 GiB free: removing $CARGO_TARGET_DIR/debug"
  rm -rf "$CARGO_TARGET_DIR/debug"
fi

cleanup() {
  [ -n "${NATS_PID:-}" ] && kill "$NATS_PID" 2>/dev/null
  [ -n "${NATS_DIR:-}" ] && rm -rf "$NATS_DIR"
  # The Swarm suites' images; their services are removed by the suites.
  docker images -q 'cltest/*' 2>/dev/null | sort -u | xargs -r docker rmi -f >/dev/null 2>&1
  [ -n "${SWARM_STARTED:-}" ] && docker swarm leave --force >/dev/null 2>&1
  [ -n "${DOCKERD_PID:-}" ] && as_root kill "$DOCKERD_PID" 2>/dev/null
  true
}
trap cleanup EXIT

if [ -z "${CONTROL_TEST_NATS_URL:-}" ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  NATS_DIR=$(mktemp -d)
  # max_payload above the 1 MiB default: the conformance suite stores 1 MiB values.
  cat >"$NATS_DIR/nats.conf" <<CONF
listen: 127.0.0.1:$port
max_payload: 8MB
jetstream { store_dir: "$NATS_DIR/js" }
CONF
  nats-server -c "$NATS_DIR/nats.conf" >"$NATS_DIR/log" 2>&1 &
  NATS_PID=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  export CONTROL_TEST_NATS_URL="nats://127.0.0.1:$port"
  step "started nats-server $(nats-server --version) at $CONTROL_TEST_NATS_URL"
fi

# A Docker Engine in Swarm mode for the Swarm suites: the running one, or a
# dockerd started here (and stopped at the end, as is the swarm it made).
if [ -z "${CONTROL_TEST_DOCKER_SOCKET:-}" ]; then
  if ! docker info >/dev/null 2>&1; then
    DOCKERD_LOG=$(mktemp)
    as_root dockerd >"$DOCKERD_LOG" 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  fi
  if docker info >/dev/null 2>&1; then
    if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
      docker swarm init --advertise-addr 127.0.0.1 >/dev/null && SWARM_STARTED=1
    fi
    # Services a killed earlier run left behind (the suites' name prefixes).
    docker service ls --format '{{.Name}}' | grep -E '^(cltest|clrest|clbench|e2edeploy)' | xargs -r docker service rm >/dev/null 2>&1 || true
    export CONTROL_TEST_DOCKER_SOCKET=/var/run/docker.sock
    step "Docker Engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})') in Swarm mode at $CONTROL_TEST_DOCKER_SOCKET"
  else
    log "dockerd did not start (log: ${DOCKERD_LOG:-none}); the Swarm suites will skip, or fail under CI=true"
  fi
fi

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (server side: ssr)"
cargo clippy -p model -p engine -p app --features app/ssr -p server -p sim -p test-support -p process-metrics --all-targets -- -D warnings

step "cargo clippy (server with the dev feature: control dev)"
cargo clippy -p server --features dev --all-targets -- -D warnings

step "cargo clippy (wasm side: hydrate)"
cargo clippy -p frontend -p app --features app/hydrate --target wasm32-unknown-unknown -- -D warnings

step "cargo test"
cargo test

step "cargo test -p server --features dev --test binary (control dev with the simulator)"
cargo test -p server --features dev --test binary

bin="$CARGO_TARGET_DIR/release/control"
# Both builds run through cargo-leptos so that they share its RUSTFLAGS and
# LEPTOS_* settings, hence every compiled dependency: the second only
# rebuilds and relinks the server crate.
step "production binary (default features, what an image ships): cargo leptos build --release --server-only"
cargo leptos build --release --server-only
scripts/check-release-binary.sh "$bin"

step "cargo leptos build --release --split --precompress --bin-features dev (site + the dev-featured server for the end-to-end suites)"
cargo leptos build --release --split --precompress --bin-features dev
scripts/check-release-binary.sh --expect-sim "$bin"

step "control --help / --version"
"$bin" --help >/dev/null
"$bin" --version

step "bundle size"
scripts/bundle-size.sh

step "schemathesis: every /admin/v1 operation against a live control dev, checked against /admin/v1/openapi.json"
scripts/schemathesis.sh "$bin"

step "Playwright end-to-end (Debian chromium)"
(
  cd end2end
  E2E_CONTROL_BIN="$bin" CONTROL_SERVER_SITE_ROOT="$ROOT/target/site" CONTROL_LOG_FORMAT=json \
    E2E_DATA_DIR="$(mktemp -d)" npx playwright test
)

step "all suites passed"

# permesi developer commands. Logic lives in scripts/*.sh; recipes stay thin.
# First run on a fresh machine: ./dev start  (installs `just`, then runs it).

set shell := ["bash", "-euo", "pipefail", "-c"]
set positional-arguments
set quiet

# List the recipes
default:
    @just --list --unsorted

# Install what is missing, build, start PG + redis + genesis + permesi + console in tmux, attach
start:
    bash scripts/stack.sh start

# Same stack detached; returns once genesis, permesi and the console answer 200
up:
    bash scripts/stack.sh up

# Stop everything (services, haproxy, redis, PostgreSQL)
down:
    bash scripts/stack.sh down

# Alias of down
stop:
    bash scripts/stack.sh down

# Stop and delete local data (.dev/: databases, redis, keys, logs, certs)
reset:
    bash scripts/stack.sh reset

# What runs
status:
    bash scripts/stack.sh status

# Tail a log: genesis | permesi | web | postgres | redis | haproxy
logs name:
    bash scripts/stack.sh logs "$1"

# The whole suite: fmt, clippy, tests (private PG :5433 + redis :6380), console build
test *args:
    bash scripts/test.sh "$@"

# HAProxy in front of genesis and permesi: per-client buckets, forged headers, path-only logs
test-edge:
    bash scripts/test-edge.sh

# The Valkey ACL users: each service reaches only its own keys (private redis on a free port)
test-redis-acl:
    bash scripts/test-redis-acl.sh --own

# The dev stack's first start as on a fresh clone: just up, console + /ready, just down
test-first-start:
    bash scripts/test-first-start.sh

# Install missing tools (apt packages, rustfmt/clippy, console toolchain)
deps:
    bash scripts/deps.sh

# Build genesis and permesi (debug)
build:
    cargo build -p genesis -p permesi

# Apply both services' migrations to the dev database
migrate:
    bash scripts/stack.sh migrate

# Print the newest email-verification link from the dev mail folder
signup-verify-url:
    bash scripts/run-service.sh permesi signup-verify-url

# Print the newest password-reset link from the dev mail folder
reset-password-url:
    bash scripts/run-service.sh permesi reset-password-url

# Print a one-time operator token (claim the platform, or elevate): local key backend
operator-token:
    bash scripts/run-service.sh permesi operator-token

# Check the audit log's chain
audit-verify:
    bash scripts/run-service.sh permesi audit verify

# List the OIDC signing keys and their roles (signing, prepublished, retiring)
oidc-keys:
    bash scripts/run-service.sh permesi oidc-keys list

# Make a new OIDC signing key version (EdDSA, ES256 or RS256), prepublished before it signs
oidc-keys-rotate alg="EdDSA":
    bash scripts/run-service.sh permesi oidc-keys rotate --alg {{alg}}

# Regenerate docs/openapi/{genesis,permesi}.json
openapi:
    bash scripts/stack.sh openapi

# Format the workspace
fmt:
    cargo fmt --all

# Clippy as CI runs it
lint:
    cargo clippy --workspace --all-targets -- -D warnings

# Serve the console on 127.0.0.1:8080 and rebuild on change
web:
    bash scripts/web.sh serve

# Build the console into apps/web/dist/
web-build:
    bash scripts/web.sh build

# The console's end-to-end tests in headless Chromium (own stack on :18000-18090)
test-browser:
    bash scripts/browser/run.sh

# TLS front: https://permesi.localhost, api.permesi.localhost, genesis.permesi.localhost
haproxy:
    bash scripts/haproxy.sh start

# Stop the TLS front
haproxy-stop:
    bash scripts/haproxy.sh stop

# Private PostgreSQL cluster: just pg start|stop|status|psql|url ROLE DB
pg *args:
    bash scripts/pg.sh "$@"

# psql into the dev cluster as the superuser
psql *args:
    bash scripts/pg.sh psql "$@"

# Dev Redis/Valkey: just redis start|stop|status|cli [ARGS] (as admin)|cli-as USER [ARGS]|url USER
redis *args:
    bash scripts/redis.sh "$@"

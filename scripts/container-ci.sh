#!/usr/bin/env bash
# The service's container, end to end, as CI runs it (.ci/run calls this as one bounded step):
#   1. podman, runc and debootstrap, installed with apt-get when missing (as root); compose.yaml
#      read by podman-compose (pinned, from PyPI, into .cache/) `config`;
#   2. the local base image, scripts/container-base.sh (kept between runs on one machine);
#   3. the service image: the Containerfile's default target, podman build --format docker with
#      --runtime runc and both --ulimit flags; checked to run as a non-root user, to carry its
#      HEALTHCHECK and not to carry the agent worker's packages; its size printed;
#   4. the agent image (--target agent), checked the same way (it carries @livekit/agents);
#   5. a livekit-server (room.auto_create false, its webhooks sent to the service's port) and a
#      redis-server on the host's loopback (scripts/container-ci-services.ts);
#   6. the agent container against that livekit-server, until its HEALTHCHECK passes (the worker
#      registered with LiveKit); then it is removed;
#   7. the service container on the host's network, configured from the environment; waits for
#      /ready and for its HEALTHCHECK to pass;
#   8. the load test, npm run loadtest (fails on any 5xx, a p99 over its bound, sessions left);
#   9. schemathesis over /api/docs/json against the container (npm run fuzz -- --url);
#  10. a graceful stop: SIGTERM, and the service must exit 0.
# Whatever happens, the containers and both images are removed and the servers stopped (the base
# image and podman's build cache stay). Every step is bounded with `timeout`; the timings of the
# steps come last.
#
# Run as root: bash scripts/container-ci.sh. After `npm ci`, with livekit-server in .cache/ (npm
# run pretest, or LIVEKIT_SERVER_BIN). Settings: REBUILD=1 (the base image again),
# LOADTEST_DURATION (20), LOADTEST_USERS (50), FUZZ_MAX_EXAMPLES (50, cases per operation).
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=localhost/node-base:24
PODMAN_COMPOSE_VERSION=1.6.0
LOADTEST_DURATION=${LOADTEST_DURATION:-20}
LOADTEST_USERS=${LOADTEST_USERS:-50}
ULIMIT_FLAGS='--ulimit nofile=20000:20000 --ulimit nproc=32768:32768'
# One run's own names: nothing of another run (or of anyone else) is touched.
run_id="$(date +%s)-$$"
image="localhost/voice-session-service:ci-$run_id"
container="voice-session-ci-$run_id"
agent_image="localhost/voice-session-agent:ci-$run_id"
agent_container="voice-session-agent-ci-$run_id"
export image container agent_image agent_container ULIMIT_FLAGS

say () { printf '::: container-ci: %s\n' "$*" >&2; }

work=$(mktemp -d /tmp/container-ci.XXXXXX)
started_at=$SECONDS
timings=()
current_step=
current_name=
current_began=0
services_pid=

cleanup () {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$current_step" ]; then
    kill -TERM -- "-$current_step" 2>/dev/null || true
    timings+=("$(printf '%4d s  %s (INTERRUPTED)' $((SECONDS - current_began)) "$current_name")")
  fi
  for name in "$container" "$agent_container"; do
    podman container exists "$name" 2>/dev/null || continue
    if [ "$status" -ne 0 ]; then
      say "the last log lines of $name:"
      timeout 20 podman logs --tail 40 "$name" >&2 2>&1 || true
    fi
    timeout 30 podman rm --force --time 2 "$name" >/dev/null 2>&1 || say "could not remove the container $name"
  done
  for name in "$image" "$agent_image"; do
    podman image exists "$name" 2>/dev/null || continue
    timeout 30 podman rmi --force "$name" >/dev/null 2>&1 || say "could not remove the image $name"
  done
  if [ -n "$services_pid" ]; then
    kill -TERM "$services_pid" 2>/dev/null || true
    if [ "$status" -ne 0 ]; then tail -n 20 "$work/services.log" >&2 2>/dev/null || true; fi
  fi
  rm -rf "$work"
  say 'timings:'
  for line in "${timings[@]}"; do printf '  %s\n' "$line" >&2; done
  printf '  %4d s  in all\n' $((SECONDS - started_at)) >&2
  if [ "$status" -eq 0 ]; then say 'passed'; else say "FAILED (exit $status)"; fi
  exit "$status"
}
trap cleanup EXIT
# A signal ends the script; the EXIT trap then ends the running step and cleans up.
trap 'exit 143' TERM
trap 'exit 130' INT

# step <seconds> <name> <command...>: runs the command in a process group of its own, for at most
# <seconds> (SIGTERM, SIGKILL 10 s later), and records how long it took. A command may be one of
# the exported functions below: bash -c name.
step () {
  local limit=$1 name=$2 status=0 began=$SECONDS note=''
  shift 2
  say "$name"
  current_name=$name current_began=$began
  timeout --kill-after=10 "$limit" "$@" &
  current_step=$!
  wait "$current_step" || status=$?
  kill -KILL -- "-$current_step" 2>/dev/null || true
  current_step=
  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then note=" (TIMED OUT after $limit s)"
  elif [ "$status" -ne 0 ]; then note=" (FAILED: exit $status)"; fi
  timings+=("$(printf '%4d s  %s%s' $((SECONDS - began)) "$name" "$note")")
  if [ "$status" -ne 0 ]; then say "$name$note"; fi
  return "$status"
}

[ "$(id -u)" = 0 ] || { say 'run as root (apt-get, debootstrap and podman need it)'; exit 1; }

missing=()
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ]; then
  step 300 'apt-get update' env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  step 600 "apt-get install podman runc debootstrap (missing: ${missing[*]})" \
    env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap
fi

# compose.yaml read by podman-compose (pinned, from PyPI: Debian's 1.0.3 has no `config`); the
# compose test (npm test) uses the same one.
compose_venv=.cache/podman-compose-$PODMAN_COMPOSE_VERSION
if [ ! -x "$compose_venv/bin/podman-compose" ]; then
  step 300 "podman-compose $PODMAN_COMPOSE_VERSION into $compose_venv" \
    bash -c 'python3 -m venv "$1" && "$1/bin/pip" install -q "podman-compose==$2"' _ "$compose_venv" "$PODMAN_COMPOSE_VERSION"
fi
step 60 'podman-compose config: compose.yaml' "$compose_venv/bin/podman-compose" -f compose.yaml config

step 900 "base image $BASE_IMAGE (scripts/container-base.sh)" bash scripts/container-base.sh

# shellcheck disable=SC2086 # the flags are words
step 600 'podman build (the service target)' \
  podman build --runtime runc --format docker $ULIMIT_FLAGS \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" --target service --tag "$image" --file Containerfile .

# check_image <image> <what its HEALTHCHECK asks> <yes|no: carries the agent worker's packages>
check_image () {
  local name=$1 probe=$2 carries=$3 user healthcheck
  user=$(podman image inspect --format '{{.Config.User}}' "$name")
  healthcheck=$(podman image inspect --format '{{json .Config.Healthcheck}}' "$name")
  echo "$name: $(podman image inspect --format '{{.Size}}' "$name") bytes, USER $user"
  case "$user" in ''|0|0:*|root|root:*) echo "it runs as root (USER '$user')"; return 1 ;; esac
  case "$healthcheck" in *"$probe"*) ;; *) echo "it has no HEALTHCHECK asking $probe: $healthcheck"; return 1 ;; esac
  # shellcheck disable=SC2086 # the flags are words
  podman --runtime runc run --rm --network none --no-healthcheck $ULIMIT_FLAGS --env "CARRIES=$carries" "$name" node -e '
    const { existsSync } = require("node:fs")
    const agentPackages = ["@livekit/agents", "@livekit/rtc-node", "@livekit/rtc-ffi-bindings", "zod"]
    const carried = agentPackages.filter((p) => existsSync(`node_modules/${p}`))
    console.log(`in the container: uid ${process.getuid()}, node ${process.version}; of the agent worker packages: ${carried.join(", ") || "none"}`)
    if (process.getuid() === 0) { console.log("it runs as root"); process.exit(1) }
    if (process.env.CARRIES === "no" && carried.length > 0) { console.log("the service image carries the agent worker packages"); process.exit(1) }
    if (process.env.CARRIES === "yes" && carried.length < agentPackages.length) { console.log("the agent image lacks some of its packages"); process.exit(1) }'
}
export -f check_image
step 60 "service image checks: non-root, HEALTHCHECK on /health, none of the agent worker's packages" \
  bash -c 'check_image "$@"' _ "$image" '/health' no

# shellcheck disable=SC2086 # the flags are words
step 300 'podman build (the agent target)' \
  podman build --runtime runc --format docker $ULIMIT_FLAGS \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" --target agent --tag "$agent_image" --file Containerfile .
step 60 "agent image checks: non-root, HEALTHCHECK on its health port, the agent worker's packages" \
  bash -c 'check_image "$@"' _ "$agent_image" 'AGENT_HEALTH_PORT' yes

# The helper (and with it both servers) lives until the EXIT trap ends it; this waits until both answer.
wait_for_file () {
  local file=$1 pid=$2
  until [ -s "$file" ]; do
    kill -0 "$pid" 2>/dev/null || { echo 'the helper exited before the servers answered'; return 1; }
    sleep 0.2
  done
}
export -f wait_for_file
node --import tsx scripts/container-ci-services.ts --out "$work/services.env" >"$work/services.log" 2>&1 &
services_pid=$!
step 60 'livekit-server and redis-server on loopback' bash -c 'wait_for_file "$@"' _ "$work/services.env" "$services_pid"
# shellcheck source=/dev/null
. "$work/services.env"
base_url="http://127.0.0.1:$SERVICE_PORT"

# The worker registers with that livekit-server: its HEALTHCHECK (GET / on its health port) passes
# only then. Its image's CMD, configured from the environment like the compose file's.
wait_until_registered () {
  until podman healthcheck run "$agent_container" >/dev/null 2>&1; do
    if [ "$(podman container inspect --format '{{.State.Running}}' "$agent_container")" != true ]; then
      echo 'the worker stopped'; podman logs --tail 20 "$agent_container"; return 1
    fi
    sleep 0.5
  done
  echo 'HEALTHCHECK: healthy (registered with LiveKit)'
  podman rm --force --time 10 "$agent_container" >/dev/null
}
export -f wait_until_registered
# shellcheck disable=SC2086 # the flags are words
step 60 'podman run (the agent worker, host network)' \
  podman --runtime runc run --detach --name "$agent_container" --network host $ULIMIT_FLAGS \
    --env "LIVEKIT_URL=$LIVEKIT_URL" --env "LIVEKIT_API_KEY=$LIVEKIT_API_KEY" --env "LIVEKIT_API_SECRET=$LIVEKIT_API_SECRET" \
    --env LIVEKIT_AGENT_NAME=voice-agent-ci --env LIVEKIT_WORKER_NUM_IDLE=1 \
    --env AGENT_HEALTH_HOST=127.0.0.1 --env "AGENT_HEALTH_PORT=$AGENT_HEALTH_PORT" "$agent_image"
step 90 'waiting for the worker to register with LiveKit (its HEALTHCHECK), then removing it' bash -c wait_until_registered

# A fresh secret per run; the load test and the fuzzer sign their user JWTs with it.
JWT_SECRET=$(node -p 'require("node:crypto").randomBytes(32).toString("base64url")')
export JWT_SECRET
# Keys of src/config.ts. One user of the fuzzer makes thousands of calls, so the per-user limits
# are out of the way (they have tests of their own); no agent worker runs, so none is dispatched.
cat >"$work/container.env" <<EOF
LIVEKIT_URL=$LIVEKIT_URL
LIVEKIT_API_KEY=$LIVEKIT_API_KEY
LIVEKIT_API_SECRET=$LIVEKIT_API_SECRET
REDIS_URL=$REDIS_URL
JWT_SECRET=$JWT_SECRET
JWT_AUDIENCE=${JWT_AUDIENCE:-}
JWT_ISSUER=${JWT_ISSUER:-}
HOST=127.0.0.1
PORT=$SERVICE_PORT
LOG_LEVEL=warn
START_RATE_LIMIT=100000/minute
API_RATE_LIMIT=100000/minute
MAX_SESSIONS_PER_USER=1000
EOF
chmod 600 "$work/container.env"

# shellcheck disable=SC2086 # the flags are words
step 60 "podman run (host network, port $SERVICE_PORT)" \
  podman --runtime runc run --detach --name "$container" --network host $ULIMIT_FLAGS \
    --env-file "$work/container.env" "$image"

wait_until_ready () {
  local url=$1
  until curl -fs --max-time 2 "$url/ready"; do
    if [ "$(podman container inspect --format '{{.State.Running}}' "$container")" != true ]; then
      echo 'the container stopped'; return 1
    fi
    sleep 0.5
  done
  echo
  # The image's own HEALTHCHECK, run now rather than at its next interval.
  podman healthcheck run "$container" && echo 'HEALTHCHECK: healthy'
}
export -f wait_until_ready
step 60 "waiting for $base_url/ready and the HEALTHCHECK" bash -c 'wait_until_ready "$@"' _ "$base_url"

# The load test is npm run loadtest, written on a branch of its own.
if node -e 'process.exit(require("./package.json").scripts?.loadtest ? 0 : 1)'; then
  step 180 "load test: $LOADTEST_USERS users for $LOADTEST_DURATION s" \
    npm run -s loadtest -- --url "$base_url" --duration "$LOADTEST_DURATION" --users "$LOADTEST_USERS"
else
  say 'SKIPPED the load test: this branch has no npm run loadtest yet'
  timings+=('   0 s  load test: SKIPPED (no npm run loadtest in this branch)')
fi

step 300 'schemathesis against the container (npm run fuzz -- --url)' npx tsx scripts/fuzz-api.ts --url "$base_url"

# SIGTERM, as an orchestrator stops it: the service drains, closes and exits 0. What it logged at
# error or fatal level in the whole run is shown (a 5xx has failed the steps above already).
stop_gracefully () {
  local code errors
  if [ "$(podman container inspect --format '{{.State.Running}}' "$container")" != true ]; then
    echo 'the container had stopped by itself'; return 1
  fi
  podman stop --time 20 "$container" >/dev/null
  code=$(podman container inspect --format '{{.State.ExitCode}}' "$container")
  errors=$(podman logs "$container" 2>&1 | grep -cE '"level":(50|60)' || true)
  echo "exit code $code; $errors log lines at error or fatal level"
  if [ "$errors" -gt 0 ]; then podman logs "$container" 2>&1 | grep -E '"level":(50|60)' | head -n 5; fi
  [ "$code" = 0 ]
}
export -f stop_gracefully
step 60 'graceful stop (SIGTERM, exit 0)' bash -c stop_gracefully

#!/usr/bin/env bash
# Builds a local stand-in for docker.io/library/node:24-bookworm-slim, for machines that reach
# Debian's and npm's package registries but no container image registry:
#   Debian bookworm (debootstrap, minbase) + Node.js 24 LTS (the npm registry's `node` package,
#   through npx) and this host's npm, via `podman import`.
# Then: podman build --build-arg BASE_IMAGE=localhost/node-base:24 -f Containerfile .
#
# Run by hand as root; no test runs it. It does nothing when the image already exists
# (REBUILD=1 builds it again). Settings: IMAGE, SUITE, MIRROR, REBUILD, NODE_MAJOR (24).
set -euo pipefail

NODE_MAJOR=${NODE_MAJOR:-24}
IMAGE=${IMAGE:-localhost/node-base:$NODE_MAJOR}
SUITE=${SUITE:-bookworm}
REBUILD=${REBUILD:-0}

say () { printf 'container-base: %s\n' "$*" >&2; }
die () { say "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die 'run as root (debootstrap and chroot need it)'
for tool in podman debootstrap node npm npx tar timeout; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install podman debootstrap)"
done

if [ "$REBUILD" != 1 ] && podman image exists "$IMAGE"; then
  say "$IMAGE already exists; nothing to do (REBUILD=1 to build it again)"
  exit 0
fi

# The mirror apt already uses here is the one known to be reachable.
if [ -z "${MIRROR:-}" ]; then
  MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | grep -v '^[[:space:]]*#' | grep -oE 'https?://[^[:space:]]+/debian/?([[:space:]]|$)' | head -n 1 | tr -d '[:space:]' || true)
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi

node_bin=$(readlink -f "$(npx -y -p "node@$NODE_MAJOR" node -p process.execPath)")
node_major=$("$node_bin" -p 'process.versions.node.split(".")[0]')
[ "$node_major" = "$NODE_MAJOR" ] || die "npx gave node $("$node_bin" -v), not $NODE_MAJOR"
# The host's own npm (not Debian's), so `npm ci` in the image behaves as it does here
# (npm 11 reads package.json's allowScripts; Node 20's bundled npm 10 ignores it).
npm_dir="$(npm root -g)/npm"
[ -f "$npm_dir/bin/npm-cli.js" ] || die "npm not found at $npm_dir"

work=$(mktemp -d /var/tmp/node-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

say "debootstrap $SUITE (minbase) from $MIRROR into $rootfs (a few minutes at most)"
timeout 900 debootstrap --variant=minbase --include=ca-certificates,libstdc++6 \
  "$SUITE" "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 20 "$work/debootstrap.log" >&2; die 'debootstrap failed'; }

# Same layout as the official node image: /usr/local/bin/node, /usr/local/lib/node_modules/npm.
say "adding node $("$node_bin" -v) from $node_bin and npm $(npm -v) from $npm_dir"
install -D -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
mkdir -p "$rootfs/usr/local/lib/node_modules"
cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"

# Where the registry is reached through a TLS-intercepting proxy, `npm ci` in the build must
# trust the same local CAs and use the same global npm config (cafile) as this host.
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  say 'adding the local CAs from /usr/local/share/ca-certificates'
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  chroot "$rootfs" update-ca-certificates >"$work/ca.log" 2>&1 \
    || { cat "$work/ca.log" >&2; die 'update-ca-certificates failed'; }
fi
global_npmrc=$(npm config get globalconfig)
if [ -s "$global_npmrc" ]; then
  say "adding the global npm config $global_npmrc as /usr/local/etc/npmrc"
  install -D -m 0644 "$global_npmrc" "$rootfs/usr/local/etc/npmrc"
fi

# Nothing of the build host's identity or apt caches belongs in the image.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/usr/share/doc/* \
  "$rootfs"/usr/share/man/* "$rootfs"/tmp/* "$rootfs"/var/log/*.log
: >"$rootfs/etc/resolv.conf"
: >"$rootfs/etc/hostname"

say "checking node and npm in the rootfs: $(chroot "$rootfs" /usr/local/bin/node -v), npm $(chroot "$rootfs" /usr/local/bin/node /usr/local/bin/npm -v)"

say "importing $rootfs as $IMAGE"
tar --numeric-owner -C "$rootfs" -c . | timeout 600 podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["node"]' \
  --message "debian $SUITE minbase + node $("$node_bin" -v) + npm $(npm -v) (scripts/container-base.sh)" \
  - "$IMAGE" >/dev/null
podman images "$IMAGE" >&2
say 'done'

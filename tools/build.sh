#!/usr/bin/env bash
# Builds the pinned Go tools of this project from the Go module proxy and caches
# them, so that a second run reuses them without rebuilding.
#
#   bash tools/build.sh [vault|bao|tofu|provider-vault|provider-postgresql ...]
#
# No args: every tool of that list that has a tools/<name>/go.mod (see tools/README.md:
# bao and provider-postgresql have none while the Go module proxy does not serve them;
# vault, HashiCorp Vault v1.21.0, stands in for bao in the tests).
#
# Each tool is pinned by tools/<name>/go.mod + go.sum (with a build-tagged tools.go
# that keeps the requirement through `go mod tidy`). A built binary is keyed by a hash
# of that go.mod, go.sum and the build flags, so a version bump rebuilds it.
#
# Cache: ${KEYBUZZ_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keybuzz-vault-cdktf}
#   bin/<name>-<key>/<binary>   built binaries (written to a temp file, then mv'd)
#   mirror/<host>/<ns>/<type>/<version>/<os_arch>/terraform-provider-<type>_v<version>_x5
#                               provider filesystem mirror (unpacked layout), for
#                               registry.opentofu.org (tofu) and registry.terraform.io
#                               (terraform) alike
#   tofurc                      CLI config: providers come from the mirror only
#
# stdout: one JSON object (the manifest), e.g.
#   {"tofu": "/abs/tofu", "pluginMirror": "/abs/mirror", "cliConfig": "/abs/tofurc"}
# stderr: progress. Exit status non-zero, naming the tool, if go is missing or a build fails.
set -euo pipefail

TOOLS_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${KEYBUZZ_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keybuzz-vault-cdktf}"
ALL_TOOLS=(vault bao tofu provider-vault provider-postgresql)

log() { printf '[tools] %s\n' "$*" >&2; }
die() { printf '[tools] ERROR: %s\n' "$*" >&2; exit 1; }

# Per-tool settings. Changing any of these changes the cache key (see tool_key).
# Sets: T_LABEL T_PKG T_BIN T_LDFLAGS T_CGO and, for providers, T_PROVIDER
# (namespace/type) and T_PROVIDER_VERSION.
tool_settings() {
  T_PROVIDER=""
  T_PROVIDER_VERSION=""
  T_CGO=0
  case "$1" in
    vault)
      # HashiCorp Vault (BUSL-1.1), test-only stand-in for OpenBao (see tools/README.md).
      T_LABEL="hashicorp vault v1.21.0"
      T_PKG="github.com/hashicorp/vault"
      T_BIN="vault"
      T_LDFLAGS="-s -w"
      ;;
    bao)
      T_LABEL="openbao v2.6.2"
      T_PKG="github.com/openbao/openbao"
      T_BIN="bao"
      T_LDFLAGS="-s -w -X github.com/openbao/openbao/version.fullVersion=2.6.2 -X github.com/openbao/openbao/version.GitCommit=dd9c19c37a878cf4a81b18efb8d6f0599c7da923"
      ;;
    tofu)
      T_LABEL="opentofu v1.12.6"
      T_PKG="github.com/opentofu/opentofu/cmd/tofu"
      T_BIN="tofu"
      T_LDFLAGS="-s -w -X github.com/opentofu/opentofu/version.dev=no"
      ;;
    provider-vault)
      T_PROVIDER="hashicorp/vault"
      T_PROVIDER_VERSION="5.9.0"
      T_LABEL="terraform-provider-vault v$T_PROVIDER_VERSION"
      T_PKG="github.com/hashicorp/terraform-provider-vault"
      T_BIN="terraform-provider-vault"
      T_LDFLAGS="-s -w"
      ;;
    provider-postgresql)
      T_PROVIDER="cyrilgdn/postgresql"
      T_PROVIDER_VERSION="1.26.0"
      T_LABEL="terraform-provider-postgresql v$T_PROVIDER_VERSION"
      T_PKG="github.com/terraform-providers/terraform-provider-postgresql"
      T_BIN="terraform-provider-postgresql"
      T_LDFLAGS="-s -w"
      ;;
    *)
      die "unknown tool '$1' (known: ${ALL_TOOLS[*]})"
      ;;
  esac
  T_FLAGS="CGO_ENABLED=$T_CGO GOFLAGS=-buildvcs=false GOTOOLCHAIN=${GOTOOLCHAIN:-} go build -trimpath -mod=readonly -ldflags '$T_LDFLAGS' $T_PKG provider=$T_PROVIDER@$T_PROVIDER_VERSION"
}

sha256() { sha256sum | cut -c1-16; }

tool_key() { # name -> short hash of go.mod + go.sum + build flags
  local dir="$TOOLS_DIR/$1"
  { cat "$dir/go.mod"; echo '--- go.sum'; cat "$dir/go.sum"; echo '--- flags'; echo "$T_FLAGS"; } | sha256
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
  local name=$1 dir="$TOOLS_DIR/$1"
  tool_settings "$name"
  [[ -f "$dir/go.mod" && -f "$dir/go.sum" ]] ||
    die "$name: cannot build $T_LABEL: tools/$name/go.mod or go.sum is missing ($T_PKG is not served by the Go module proxy here; see tools/README.md)"
  local key out_dir
  key=$(tool_key "$name")
  out_dir="$CACHE/bin/$name-$key"
  BUILT_PATH="$out_dir/$T_BIN"
  if [[ -x "$BUILT_PATH" ]]; then
    log "$name cached ($BUILT_PATH)"
    return 0
  fi
  command -v go >/dev/null 2>&1 ||
    die "$name: the 'go' command was not found (install Go >= the version in tools/$name/go.mod, e.g. /usr/local/go/bin)"
  log "building $T_LABEL (not cached: a cold build takes minutes)..."
  mkdir -p "$out_dir"
  local tmp="$out_dir/.$T_BIN.tmp.$$" start=$SECONDS
  # Remove the temp file if the build fails or is interrupted.
  trap 'rm -f "'"$tmp"'"' EXIT
  # Host binaries only (the mirror is laid out for the host platform), and the
  # caller's GOFLAGS kept out so that the cache key says all that went into the build.
  if ! (cd "$dir" && unset GOOS GOARCH && CGO_ENABLED=$T_CGO GOFLAGS=-buildvcs=false \
    go build -trimpath -mod=readonly -ldflags "$T_LDFLAGS" -o "$tmp" "$T_PKG" >&2); then
    rm -f "$tmp"
    die "$name: build of $T_LABEL ($T_PKG in tools/$name) failed"
  fi
  chmod 0755 "$tmp"
  mv -f "$tmp" "$BUILT_PATH"
  trap - EXIT
  log "$name ready in $((SECONDS - start))s ($BUILT_PATH)"
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

main() {
  local -a tools=("$@")
  local t
  if ((${#tools[@]} == 0)); then
    for t in "${ALL_TOOLS[@]}"; do
      if [[ -f "$TOOLS_DIR/$t/go.mod" ]]; then
        tools+=("$t")
      else
        log "$t skipped: no tools/$t/go.mod (see tools/README.md)"
      fi
    done
  fi
  for t in "${tools[@]}"; do tool_settings "$t"; done # validate names first

  mkdir -p "$CACHE"
  CACHE="$(cd "$CACHE" && pwd -P)"
  MIRROR="$CACHE/mirror"
  # One build at a time per cache (two cores; and no two runs racing on a file).
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE/.lock"
    flock 9
  fi

  local manifest="" want_mirror=0
  for t in "${tools[@]}"; do
    ensure_tool "$t"
    if [[ -n "$T_PROVIDER" ]]; then
      mkdir -p "$MIRROR"
      mirror_provider "$BUILT_PATH"
      want_mirror=1
    else
      manifest+="${manifest:+, }$(json_str "$t"): $(json_str "$BUILT_PATH")"
    fi
  done
  if ((want_mirror)); then
    write_cli_config
    manifest+="${manifest:+, }\"pluginMirror\": $(json_str "$MIRROR"), \"cliConfig\": $(json_str "$CLI_CONFIG")"
  fi
  printf '{%s}\n' "$manifest"
}

main "$@"

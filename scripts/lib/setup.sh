# Shared set-up for scripts/gpuflow, scripts/test and scripts/bench: installs the Debian
# packages gpuflow needs when any is missing, and checks the Swift toolchain. Sourced, not run.

GPUFLOW_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
GPUFLOW_PACKAGES=(liblua5.4-dev libcsv-dev libfast-float-dev libvulkan-dev mesa-vulkan-drivers glslc libopenblas-dev libopenblas0-openmp pkg-config vulkan-validationlayers libsqlite3-dev chromium)

gpuflow_log() { printf 'gpuflow-setup: %s\n' "$*" >&2; }

gpuflow_ensure_packages() {
  local missing=()
  for p in "${GPUFLOW_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  gpuflow_log "installing missing Debian packages: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { gpuflow_log "need root (or sudo) to install ${missing[*]}"; return 1; }
    sudo="sudo"
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

gpuflow_ensure_swift() {
  if ! command -v swift >/dev/null 2>&1; then
    [ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"
  fi
  command -v swift >/dev/null 2>&1 || { gpuflow_log "the Swift toolchain (swift) is not on PATH"; return 1; }
}

gpuflow_setup() {
  gpuflow_ensure_packages
  gpuflow_ensure_swift
  # lavapipe and the Vulkan loader want a runtime dir; CI and containers often lack one.
  if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "${XDG_RUNTIME_DIR}" ]; then
    export XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/gpuflow-runtime-$(id -u)"
    mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
  fi
}

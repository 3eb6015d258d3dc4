# Shared set-up for scripts/gpuflow, scripts/test and scripts/bench: installs the Debian
# packages gpuflow needs when any is missing, and checks the Swift toolchain. Sourced, not run.

GPUFLOW_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
GPUFLOW_PACKAGES=(liblua5.4-dev libcsv-dev libpng-dev libfast-float-dev libvulkan-dev mesa-vulkan-drivers glslc libopenblas-dev libopenblas0-openmp pkg-config vulkan-validationlayers libsqlite3-dev)
# What `scripts/gpu-check --prepare` needs beyond those to pack the GPU kit: patchelf points the
# binaries at the kit's lib/, xz packs it, libglvnd0 gives NVIDIA's Vulkan driver its dispatcher.
GPUFLOW_KIT_PACKAGES=(patchelf xz-utils binutils libglvnd0)
# Test-only tools, installed by scripts/test and never needed to build or run gpuflow: Chromium
# renders the HTML report in a test, promtool (Debian's prometheus package) lints the Prometheus
# text, and the kit test packs a kit.
GPUFLOW_TEST_PACKAGES=(chromium prometheus "${GPUFLOW_KIT_PACKAGES[@]}")

gpuflow_log() { printf 'gpuflow-setup: %s\n' "$*" >&2; }

# gpuflow_ensure_packages [PACKAGE...]: installs those missing (default: GPUFLOW_PACKAGES).
gpuflow_ensure_packages() {
  local missing=() wanted=("$@")
  [ ${#wanted[@]} -gt 0 ] || wanted=("${GPUFLOW_PACKAGES[@]}")
  for p in "${wanted[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
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

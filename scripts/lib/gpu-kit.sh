# Assembles the GPU check's kit: gpuflow and gpuflow-bench with every shared library they load
# that is not part of the C runtime (the Swift runtime, Foundation and ICU, OpenBLAS with
# libgfortran/libgomp/libquadmath, Lua, SQLite, the Vulkan loader, …) in lib/, plus stdlib/,
# the examples the check runs, the iris data and the check scripts themselves, as one
# compressed tarball. Sourced by scripts/gpu-check and scripts/check-gpu-kit, not run.
#
# Why bundle rather than link statically: a static Swift runtime still leaves OpenBLAS, Lua,
# SQLite and the Vulkan loader as shared libraries, so a lib/ folder is needed either way, and
# FoundationNetworking's static archive needs libcurl's. One mechanism (ldd → lib/) covers every
# library, release or debug build alike, so the test on the development machine packs the kit
# from the debug build with the same code that packs the release kit for the GPU machine.

# The C runtime and the C++ runtime every Debian/Ubuntu system has (apt itself needs them). They
# stay the GPU machine's own: a bundled older libstdc++ would shadow the newer one the driver or
# PyTorch expects.
GPU_KIT_SYSTEM_LIBS='^(linux-vdso|ld-linux-x86-64|libc|libm|libdl|libpthread|librt|libutil|libresolv|libgcc_s|libstdc\+\+)\.so'

# Libraries NVIDIA's Vulkan driver (libGLX_nvidia.so.0, loaded by the loader at run time, so
# invisible to ldd on gpuflow) links against and that a bare container may lack: glvnd's
# dispatcher and Xlib. Bundled with their own dependencies where this machine has them.
GPU_KIT_DRIVER_LIBS=(libGLdispatch.so.0 libX11.so.6 libXext.so.6)

gpu_kit_log() { printf 'gpu-kit: %s\n' "$*" >&2; }
gpu_kit_fail() { printf 'gpu-kit: error: %s\n' "$*" >&2; return 1; }

# Prints "name<TAB>path" for every non-system shared library that FILE needs (ldd is transitive).
# Fails, naming them, when ldd reports any library as not found.
gpu_kit_needed() {
  local file="$1" out
  out="$(ldd "$file" 2>&1)" || gpu_kit_fail "ldd $file failed: $out" || return 1
  if grep -q 'not found' <<<"$out"; then
    gpu_kit_fail "$file needs libraries this machine lacks: $(grep 'not found' <<<"$out" | awk '{print $1}' | tr '\n' ' ')"
    return 1
  fi
  awk '$2 == "=>" && $3 ~ /^\// {print $1 "\t" $3}' <<<"$out" | grep -vE "^$GPU_KIT_SYSTEM_LIBS" || true
}

# Copies FILE's libraries into LIBDIR under the names the loader asks for (the soname).
gpu_kit_copy_libs() {
  local file="$1" libdir="$2" name path
  local list
  list="$(gpu_kit_needed "$file")" || return 1
  while IFS=$'\t' read -r name path; do
    [ -n "$name" ] || continue
    [ -e "$libdir/$name" ] && continue
    cp -L "$path" "$libdir/$name" || gpu_kit_fail "cannot copy $path" || return 1
  done <<<"$list"
}

# gpu_kit_assemble BUILD_DIR TARBALL [XZ_LEVEL]: BUILD_DIR holds gpuflow and gpuflow-bench.
gpu_kit_assemble() {
  local build="$1" tarball="$2" level="${3:-9}" root="$GPUFLOW_ROOT"
  local stage
  for tool in ldd patchelf strip xz tar; do
    command -v "$tool" >/dev/null || { gpu_kit_fail "$tool is missing (scripts/lib/setup.sh installs the kit's packages)"; return 1; }
  done
  for b in gpuflow gpuflow-bench; do
    [ -x "$build/$b" ] || { gpu_kit_fail "$build/$b is missing: build it first"; return 1; }
  done
  [ -f "$root/../shared/data/iris.csv" ] || { gpu_kit_fail "$root/../shared/data/iris.csv is missing: the check trains on it"; return 1; }
  stage="$(mktemp -d)" || return 1
  local kit="$stage/gpuflow-kit"
  mkdir -p "$kit/bin" "$kit/lib" "$kit/data" "$kit/examples" "$kit/scripts/lib" "$kit/scripts/peers" || return 1
  for b in gpuflow gpuflow-bench; do
    cp "$build/$b" "$kit/bin/$b" && strip "$kit/bin/$b" || { gpu_kit_fail "cannot copy and strip $b"; return 1; }
    gpu_kit_copy_libs "$build/$b" "$kit/lib" || return 1
    # The build's run paths name this machine's toolchain folders: the kit looks in its own lib/.
    patchelf --set-rpath '$ORIGIN/../lib' "$kit/bin/$b" || { gpu_kit_fail "patchelf on $b failed"; return 1; }
  done
  local extra path
  for extra in "${GPU_KIT_DRIVER_LIBS[@]}"; do
    path="$(ldconfig -p | awk -v n="$extra" '$1 == n && /x86-64/ {print $NF; exit}')"
    if [ -z "$path" ]; then gpu_kit_log "note: $extra is not on this machine; the kit goes without it"; continue; fi
    [ -e "$kit/lib/$extra" ] || cp -L "$path" "$kit/lib/$extra" || return 1
    gpu_kit_copy_libs "$path" "$kit/lib" || return 1
  done
  # Toolchain libraries ship with symbols; the loader needs none of them.
  strip --strip-unneeded "$kit"/lib/*.so* 2>/dev/null || true
  cp -r "$root/stdlib" "$kit/stdlib" \
    && cp "$root/examples/train_infer_optimize.lua" "$kit/examples/" \
    && mkdir -p "$kit/scripts/bench-lua" "$kit/data/digits" \
    && cp "$root/scripts/bench-lua/train_cnn.lua" "$root/scripts/bench-lua/train_transformer.lua" "$kit/scripts/bench-lua/" \
    && python3 "$root/scripts/peers/image_text_peers.py" prepare-digits "$root/examples/data/digits.csv" "$kit/data/digits" \
    && cp "$root/examples/data/fortunes.txt" "$kit/data/" \
    && cp "$root/../shared/data/iris.csv" "$kit/data/" \
    && cp "$root/scripts/gpu-check" "$kit/scripts/" \
    && cp "$root/scripts/lib/gpu-checks.sh" "$kit/scripts/lib/" \
    && cp "$root/scripts/peers/torch_cuda_peer.py" "$root/scripts/peers/mlp_peers.py" "$kit/scripts/peers/" \
    || { gpu_kit_fail "cannot copy the kit's scripts, stdlib, examples or data"; return 1; }
  # The newest C runtime any carried file asks for, so --run can refuse an older one plainly.
  local glibc
  glibc="$(objdump -T "$kit"/bin/* "$kit"/lib/* 2>/dev/null | grep -oE 'GLIBC_[0-9]+\.[0-9]+' | sort -V -u | tail -1)"
  {
    echo "built $(date -u +%Y-%m-%dT%H:%MZ) from $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown) ($(basename "$build") build)"
    echo "needs ${glibc:-GLIBC_2.0}"
    (cd "$kit" && ls bin lib)
  } > "$kit/MANIFEST"
  mkdir -p "$(dirname "$tarball")" || return 1
  tar -C "$stage" -cf - gpuflow-kit | xz -T0 "-$level" > "$tarball.part" && mv "$tarball.part" "$tarball" \
    || { gpu_kit_fail "cannot write $tarball"; rm -rf "$stage"; return 1; }
  gpu_kit_log "$(du -sh "$kit" | cut -f1) unpacked, $(du -h "$tarball" | cut -f1) in $tarball ($(ls "$kit/lib" | wc -l) libraries)"
  rm -rf "$stage"
}

# The GPU check's sections, shared by `scripts/gpu-check` (built here) and `--run` (from the
# kit). Sourced, not run. gpu_checks prints the report and returns non-zero when any step
# failed; each failed step prints "FAILED: <step> (exit N)" in place, so one broken section
# does not hide the figures of the others.
#
# Set before calling: GPU_CHECK_GPUFLOW, GPU_CHECK_BENCH (the binaries), GPU_CHECK_EXAMPLES
# (folder with train_infer_optimize.lua), GPU_CHECK_IRIS (iris.csv), GPU_CHECK_PEERS (folder with
# torch_cuda_peer.py and mlp_peers.py), GPU_CHECK_LIBS (the kit's lib/, or empty), GPU_CHECK_WORK
# (a scratch folder). GPU_CHECK_SIZES: the GEMM sizes; GPU_CHECK_MLP_EPOCHS: the MLP's epochs;
# GPU_CHECK_QUICK=1 (the kit test on lavapipe): the example trains 5 epochs, hybrid is skipped.

gpu_check_failed=0

# Runs a command with the kit's libraries first on the search path. Only gpuflow's own
# processes get it: python3 and PyTorch keep the machine's libraries.
gpu_check_exec() {
  if [ -n "${GPU_CHECK_LIBS:-}" ]; then
    LD_LIBRARY_PATH="$GPU_CHECK_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@"
  else
    "$@"
  fi
}

# step NAME COMMAND...: runs it, notes a failure by name, and says how long it took (the GPU
# machine gives one command 10 minutes: the times show where they go).
gpu_check_step() {
  local name="$1" rc=0 started=$SECONDS
  shift
  "$@" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "FAILED: $name (exit $rc)" >&2
    gpu_check_failed=1
  fi
  echo "[$name: $((SECONDS - started)) s]" >&2
  return 0
}

gpu_check_gemm_table() {  # the --tsv lines as a table
  awk -F'\t' 'BEGIN { printf "%6s %18s %18s %10s\n", "n", "vulkan wall", "vulkan kernel", "max |Δ|" }
    { f = 2 * $1 ^ 3 / 1e9
      k = ($3 == "nan") ? "unavailable" : sprintf("%.2f GFLOP/s", f / $3)
      d = ($5 == "nan") ? "-" : sprintf("%.1e", $5)
      printf "%6d %18s %18s %10s\n", $1, sprintf("%.2f GFLOP/s", f / $2), k, d }' "$1"
}

# The main example's arguments, with --quick (5 epochs) under GPU_CHECK_QUICK.
gpu_check_example_args() {
  local args=("$@") a terminator=""
  # A loop, not `printf | grep -q`: under pipefail grep's early exit can fail printf (SIGPIPE),
  # which added a second -- and handed the script a '--' of its own.
  for a in "${args[@]}"; do [ "$a" != "--" ] || terminator=1; done
  if [ -n "${GPU_CHECK_QUICK:-}" ]; then
    if [ -n "$terminator" ]; then args+=(--quick); else args+=(-- --quick); fi
  fi
  printf '%s\n' "${args[@]}"
}

# gpuflow run with the main example; prints lines LINES (sed range) of its output. Its progress
# lines (stderr) are shown only when it fails.
gpu_check_workflow() {
  local lines="$1" out="$GPU_CHECK_WORK/workflow.txt" err="$GPU_CHECK_WORK/workflow.err" rc=0
  shift
  local args
  mapfile -t args < <(gpu_check_example_args "$@")
  gpu_check_exec "$GPU_CHECK_GPUFLOW" run "$GPU_CHECK_EXAMPLES/train_infer_optimize.lua" "${args[@]}" >"$out" 2>"$err" || rc=$?
  sed -n "$lines" "$out"
  [ "$rc" -eq 0 ] || cat "$err"
  return "$rc"
}

# Issue 17's workloads through `gpuflow run` on BACKEND: the CNN on the digits (images/s, test
# accuracy) and the character transformer on the fortunes (tokens/s, validation loss,
# generated tokens/s). GPU_CHECK_QUICK: one epoch of each on a sliver of the text.
gpu_check_image_text() {
  local backend="$1" epochs=15 t_epochs=2 share=0.9 r
  if [ -n "${GPU_CHECK_QUICK:-}" ]; then epochs=1 t_epochs=1 share=0.02; fi
  r=$(gpu_check_exec "$GPU_CHECK_GPUFLOW" run "$GPU_CHECK_BENCH_LUA/train_cnn.lua" --backend "$backend" --quiet -- \
      "$GPU_CHECK_DIGITS" "$epochs" 8) || return 1
  echo "$r" | awk -F'\t' -v b="$backend" -v e="$epochs" '{ printf "cnn_digits on %s: %.0f images/s training, test accuracy %.3f after %d epochs (%.2f s)\n", b, $3, $2, e, $1 }'
  r=$(gpu_check_exec "$GPU_CHECK_GPUFLOW" run "$GPU_CHECK_BENCH_LUA/train_transformer.lua" --backend "$backend" --quiet -- \
      "$GPU_CHECK_TEXT" "$t_epochs" "$share") || return 1
  echo "$r" | awk -F'\t' -v b="$backend" -v e="$t_epochs" '{ printf "char_transformer on %s: %.0f tokens/s training, validation loss %.4f after %d epochs (%.2f s), %.0f tokens/s generating\n", b, $3, $2, e, $1, $4 }'
}

gpu_check_nvml() {
  local m="$GPU_CHECK_WORK/gpu-metrics.json" args
  mapfile -t args < <(gpu_check_example_args --backend vulkan --metrics-out "$m")
  gpu_check_exec "$GPU_CHECK_GPUFLOW" run "$GPU_CHECK_EXAMPLES/train_infer_optimize.lua" "${args[@]}" >/dev/null 2>"$GPU_CHECK_WORK/nvml.err" \
    || { cat "$GPU_CHECK_WORK/nvml.err"; return 1; }
  grep -m1 -A12 '"device"' "$m"
  [ -z "${OUT:-}" ] || cp "$m" "$OUT/gpu-metrics.json"
}

gpu_check_hybrid() {
  if [ -n "${GPU_CHECK_QUICK:-}" ]; then
    echo "skipped under GPU_CHECK_QUICK (minutes on lavapipe; the same gpuflow-bench binary runs the other sections)"
    return 0
  fi
  gpu_check_exec "$GPU_CHECK_BENCH" hybrid --quick
}

# The same GEMM sizes and the same MLP through PyTorch on CUDA, gpuflow's figures as ratios to
# them and as a fraction of the GPU's FP32 peak. Skipped, saying why, without torch or CUDA.
gpu_check_peer() {
  local py="${GPU_CHECK_PYTHON:-python3}" peer="$GPU_CHECK_PEERS/torch_cuda_peer.py" reason
  if ! command -v "$py" >/dev/null; then
    echo "skipped: $py is not on PATH"
    return 0
  fi
  if ! reason="$("$py" "$peer" check 2>&1)"; then
    echo "skipped: ${reason##*$'\n'}"
    return 0
  fi
  "$py" "$peer" peak >"$GPU_CHECK_WORK/peak.txt" || return
  "$py" "$peer" gemm ${GPU_CHECK_SIZES:-256 512 1024 2048 4096} >"$GPU_CHECK_WORK/torch-gemm.tsv" || return
  "$py" "$peer" compare-gemm "$GPU_CHECK_WORK/gemm.tsv" "$GPU_CHECK_WORK/torch-gemm.tsv" "$GPU_CHECK_WORK/peak.txt" || return
  local epochs="${GPU_CHECK_MLP_EPOCHS:-10}" digits="$GPU_CHECK_WORK/digits"
  mkdir -p "$digits"
  echo
  "$py" "$GPU_CHECK_PEERS/mlp_peers.py" prepare "$digits" || return
  gpu_check_exec "$GPU_CHECK_BENCH" mlp "$digits" "$epochs" vulkan >"$GPU_CHECK_WORK/mlp-gpuflow.txt" || return
  "$py" "$peer" mlp "$digits" "$epochs" >"$GPU_CHECK_WORK/mlp-torch.txt" || return
  "$py" "$peer" compare-mlp "$GPU_CHECK_WORK/mlp-gpuflow.txt" "$GPU_CHECK_WORK/mlp-torch.txt"
}

gpu_checks() {
  gpu_check_failed=0
  echo "# gpu-check — $(date -u +%Y-%m-%dT%H:%MZ) on $(uname -n)"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  else
    echo "nvidia-smi: not on this machine (no NVIDIA driver)"
  fi
  echo; echo "## gpuflow devices"
  gpu_check_step "gpuflow devices" gpu_check_exec "$GPU_CHECK_GPUFLOW" devices
  echo; echo "## kernel parity (every kernel vs the CPU reference)"
  gpu_check_step "kernel parity" gpu_check_exec "$GPU_CHECK_BENCH" parity >"$GPU_CHECK_WORK/parity.txt"
  grep -v '^ok ' "$GPU_CHECK_WORK/parity.txt" || true
  echo "$(grep -c '^ok ' "$GPU_CHECK_WORK/parity.txt" || true) kernels agree"
  echo; echo "## GEMM sweep (float32, square)"
  gpu_check_step "GEMM sweep" gpu_check_exec "$GPU_CHECK_BENCH" gemm ${GPU_CHECK_SIZES:-256 512 1024 2048 4096} --tsv >"$GPU_CHECK_WORK/gemm.tsv"
  gpu_check_gemm_table "$GPU_CHECK_WORK/gemm.tsv"
  echo; echo "## pool trace"
  gpu_check_step "pool trace" gpu_check_exec "$GPU_CHECK_BENCH" pool-trace
  echo; echo "## main workflow on the GPU (iris)"
  gpu_check_step "workflow on iris" gpu_check_workflow 1,4p --backend vulkan -- --data "$GPU_CHECK_IRIS"
  echo; echo "## main workflow on the GPU (generated spirals) and on the CPU, side by side"
  gpu_check_step "workflow on vulkan" gpu_check_workflow 2,3p --backend vulkan
  gpu_check_step "workflow on cpu" gpu_check_workflow 2,3p --backend cpu
  echo; echo "## a CNN and a transformer on the GPU and on the CPU (SIMD), side by side"
  gpu_check_step "CNN and transformer on vulkan" gpu_check_image_text vulkan
  gpu_check_step "CNN and transformer on simd" gpu_check_image_text simd
  echo; echo "## convolution: direct vs im2col + GEMM on the GPU and on the CPU (SIMD)"
  gpu_check_step "convolution algorithms" gpu_check_exec "$GPU_CHECK_BENCH" conv 3 vulkan simd ${GPU_CHECK_QUICK:+--small}
  echo; echo "## SIMD fallback vs Vulkan, warm-started search, monitor overhead (NVML figures where the driver has them)"
  gpu_check_step "hybrid" gpu_check_hybrid
  echo; echo "## NVML through the monitor"
  gpu_check_step "NVML through the monitor" gpu_check_nvml
  echo; echo "## PyTorch on CUDA, the peer (the same GEMM sizes and MLP)"
  gpu_check_step "PyTorch peer" gpu_check_peer
  echo
  if [ "$gpu_check_failed" -ne 0 ]; then echo "gpu-check: some steps FAILED (see above)"; else echo "gpu-check: every step ran"; fi
  return "$gpu_check_failed"
}

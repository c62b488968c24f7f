#!/usr/bin/env bash
# The H200 measurements of BENCHMARKS.md, run on the device box in a few calls (device time is
# short; the box stays warm ~30 s between calls and a `setsid` process survives them).
# Files travel in the ignored `.dev/` folder of the checkout (the model is over the 64 MiB
# carry limit, so it goes in two halves, one per call):
#   .dev/model.part.aa, .dev/model.part.ab   split -b 48m of the default model
#   .dev/ctxscope.gz                         gzip of target/release/ctxscope (built here)
#   .dev/engine-tests.gz                     gzip of the engine's release lib test binary
#                                            (cargo test --release -p ctxscope-engine --lib --no-run)
#   .dev/llama.cpp-src.tar.xz                ../shared/anchors/llama.cpp-src.tar.xz
#   .gl/*.deb                                the Vulkan loader (device README)
# Steps (one `run` each, in the checkout's root):
#   scripts/device/h200.sh stage-a     carry .dev/model.part.aa .dev/ctxscope.gz .dev/llama.cpp-src.tar.xz
#                                      (also starts llama.cpp's CUDA build in the background)
#   scripts/device/h200.sh stage-b     carry .gl .dev/model.part.ab (and .dev/engine-tests.gz when
#                                      stage-a's carry has no room for it)
#   scripts/device/h200.sh bench [trusted]  ctxscope bench, trusted and checked shader modules
#                                      (only trusted with the argument)
#   scripts/device/h200.sh llama       llama-bench, same model and lengths (waits for the build)
#   scripts/device/h200.sh niah [N]    the example NIAH grid: N shards at once, one per GPU
#   scripts/device/h200.sh devices     the same grid through `sweep --devices all`
#   scripts/device/h200.sh all         after stage-a (carry .gl .dev/model.part.ab): stage-b,
#                                      tests-bench, scores, devices
#   scripts/device/h200.sh tests-bench the engine's GPU kernel tests (.dev/engine-tests.gz, carried
#                                      with stage-a), bench with the f32 and the fast matmul
#   scripts/device/h200.sh decode [N]  decode alone (256 tokens after 4k), N runs (default 3)
#   scripts/device/h200.sh subgroups   bench (f32 and fast kernels) with the reductions in workgroup
#                                      memory (CTXSCOPE_SUBGROUPS=0) and with subgroup shuffles,
#                                      alternating, then the NIAH grid (f32) with shuffles
#   scripts/device/h200.sh scores [cpu] ~12k-token prompt scored on the GPU with the f32 and the
#                                      fast kernels (and on the CPU with `cpu`: minutes)
#   scripts/device/h200.sh devset      every case × RoPE variant of ../shared/testdata/hf-devset.json
#                                      (carried as .dev/hf-devset.json) scored on the GPU with the
#                                      f32 and the fast kernels, against HF (scripts/device/devset.py)
# Results go to $OUT (the device tool brings them back).
set -euo pipefail
W=/tmp/ctxscope-h200
mkdir -p "$W" "${OUT:-/tmp/out}"
OUT=${OUT:-/tmp/out}
vulkan() {
  for f in .gl/*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done
  ldconfig
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
}
case "${1:?step}" in
  stage-a)
    cp .dev/model.part.aa "$W/"
    gunzip -c .dev/ctxscope.gz >"$W/ctxscope" && chmod +x "$W/ctxscope"
    if [ -f .dev/engine-tests.gz ]; then gunzip -c .dev/engine-tests.gz >"$W/engine-tests" && chmod +x "$W/engine-tests"; fi
    # llama.cpp's CUDA build (for the `llama` step) only when its source was carried.
    if [ -f .dev/llama.cpp-src.tar.xz ]; then
      mkdir -p /root/lc && tar xJf .dev/llama.cpp-src.tar.xz -C /root/lc --strip-components=1
      cd /root/lc && mkdir -p app && touch app/CMakeLists.txt
      setsid nohup bash -c 'cmake -B build -G Ninja -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DLLAMA_CURL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_CCACHE=OFF \
        -DCMAKE_BUILD_TYPE=Release && cmake --build build --target llama-bench -j 12 && touch /root/lc/BUILT' \
        >/root/lc/build.log 2>&1 </dev/null &
    fi
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    ;;
  stage-b)
    # The test binary may come here instead (stage-a's carry is near the 64 MiB limit).
    if [ -f .dev/engine-tests.gz ]; then gunzip -c .dev/engine-tests.gz >"$W/engine-tests" && chmod +x "$W/engine-tests"; fi
    cat "$W/model.part.aa" .dev/model.part.ab >"$W/model.gguf"
    sha256sum "$W/model.gguf"
    vulkan
    "$W/ctxscope" info --model "$W/model.gguf" | head -5
    ;;
  bench)
    vulkan
    b() { "$W/ctxscope" bench --model "$W/model.gguf" --lengths 1024,8192,16384,32768 --decode-tokens 128 --repeats 2 "$@"; }
    b >"$OUT/bench-trusted.json"
    [ "${2:-}" = trusted ] || CTXSCOPE_CHECKED_SHADERS=1 b >"$OUT/bench-checked.json"
    cat "$OUT"/bench-*.json | grep -E '"(length|tokens_per_s|prefill|decode)' | head -40 || true
    ;;
  llama)
    while [ ! -f /root/lc/BUILT ]; do
      if ! pgrep -f "cmake --build" >/dev/null && ! pgrep -f "cmake -B" >/dev/null; then tail -30 /root/lc/build.log; exit 1; fi
      sleep 5
    done
    export LD_LIBRARY_PATH=/root/lc/build/bin CUDA_VISIBLE_DEVICES=0  # one GPU, as ctxscope bench uses
    cd /root/lc
    build/bin/llama-bench -m "$W/model.gguf" -p 1024,8192,16384,32768 -n 0 -fa 1 -ngl 99 -r 3 -o md | tee "$OUT/llama-prefill.md"
    build/bin/llama-bench -m "$W/model.gguf" -p 0 -n 128 -d 4096 -fa 1 -ngl 99 -r 3 -o md | tee "$OUT/llama-decode.md"
    ;;
  niah)
    vulkan
    n=${2:-1}
    start=$(date +%s%N)
    for i in $(seq 0 $((n - 1))); do
      "$W/ctxscope" sweep --model "$W/model.gguf" --config examples/niah-grid.json --backend gpu --gpu-adapter "$i" \
        --shard "$i/$n" --out "$W/niah-$i-of-$n.json" >"$W/niah-$i.link" 2>"$W/niah-$i.log" &
    done
    wait
    end=$(date +%s%N)
    echo "NIAH grid, $n shard(s) at once: $(( (end - start) / 1000000 )) ms" | tee "$OUT/niah-$n.txt"
    "$W/ctxscope" merge "$W"/niah-*-of-$n.json -o "$OUT/niah-merged-$n.json"
    grep -o '"result_hash": *"[0-9a-f]*"' "$OUT/niah-merged-$n.json" | tee -a "$OUT/niah-$n.txt"
    ;;
  all)
    # One call after stage-a for a short device budget: stage-b, then the GPU kernel tests,
    # bench with the exact f32 kernels (the default) and the tensor-core matmul, scores of a
    # ~12k-token prompt, and the NIAH grid with --devices all.
    "$0" stage-b
    "$0" tests-bench
    "$0" scores
    "$0" devices
    ;;
  tests-bench)
    vulkan
    # One test at a time: once, the 36 tests in parallel threads (one device each) hung past 10
    # minutes on the H200; one at a time they take ~13 s.
    "$W/engine-tests" gpu:: --test-threads 1 2>&1 | tail -40 | tee "$OUT/engine-tests-gpu.txt"
    b() { "$W/ctxscope" bench --model "$W/model.gguf" --lengths 1024,8192,16384,32768 --decode-tokens 128 --repeats 2 "$@"; }
    CTXSCOPE_PRECISION_KERNELS=f32 b >"$OUT/bench-f32.json"
    CTXSCOPE_PRECISION_KERNELS=fast b >"$OUT/bench-fast.json"
    for m in f32 fast; do
      echo "bench-$m: $(grep -o '"\(matmul\|attention\)_kernel":[^,]*' "$OUT/bench-$m.json" | tr '\n' ' ')"
      grep -o '"tokens_per_s":[^,}]*' "$OUT/bench-$m.json" | tr '\n' ' '; echo
    done
    ;;
  decode)
    # Decode alone, N times (its speed swings with the host): 256 tokens after 4k, f32 kernels.
    vulkan
    for i in $(seq 1 "${2:-3}"); do
      "$W/ctxscope" bench --model "$W/model.gguf" --lengths 1024 --decode-tokens 256 --repeats 1 >"$OUT/decode-$i.json"
      python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("decode run", sys.argv[2], "greedy", round(d["decode"]["tokens_per_s"], 1), "with logits", round(d["decode_with_logits"]["tokens_per_s"], 1), "tok/s")' "$OUT/decode-$i.json" "$i"
    done
    ;;
  subgroups)
    # What the subgroup reductions bring: each bench without them, then with them, twice.
    vulkan
    b() { "$W/ctxscope" bench --model "$W/model.gguf" --lengths 1024,8192,16384,32768 --decode-tokens 128 --repeats 2 "$@"; }
    for round in 1 2; do
      for m in f32 fast; do
        for sg in 0 1; do
          CTXSCOPE_SUBGROUPS=$sg CTXSCOPE_PRECISION_KERNELS=$m b >"$OUT/bench-$m-sg$sg-$round.json"
          python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sys.argv[1].split("/")[-1], d["reductions"], [round(p["tokens_per_s"]) for p in d["prefill"]], "decode", round(d["decode"]["tokens_per_s"], 1), "with logits", round(d["decode_with_logits"]["tokens_per_s"], 1))' "$OUT/bench-$m-sg$sg-$round.json"
        done
      done
    done
    start=$(date +%s%N)
    CTXSCOPE_PRECISION_KERNELS=f32 "$W/ctxscope" sweep --model "$W/model.gguf" --config examples/niah-grid.json --backend gpu \
      --out "$W/niah-sg.json" >"$W/niah-sg.link" 2>"$W/niah-sg.log"
    end=$(date +%s%N)
    echo "NIAH grid (f32, subgroup reductions), one GPU: $(( (end - start) / 1000000 )) ms" | tee "$OUT/niah-sg.txt"
    grep -o '"result_hash": *"[0-9a-f]*"' "$W/niah-sg.json" | tee -a "$OUT/niah-sg.txt"
    ;;
  scores)
    vulkan
    cat docs/*.md ARCHITECTURE.md README.md >"$W/text.txt"  # (a pipe into head would SIGPIPE under pipefail)
    head -c 36000 "$W/text.txt" >"$W/prompt.txt"
    tail -c +36001 "$W/text.txt" >"$W/rest.txt" && head -c 2000 "$W/rest.txt" >"$W/continuation.txt"
    s() { "$W/ctxscope" score --model "$W/model.gguf" --prompt-file "$W/prompt.txt" --continuation-file "$W/continuation.txt" "$@"; }
    # The CPU run takes minutes at this length: only with `scores cpu`.
    runs="gpu-f32 gpu-fast"
    if [ "${2:-}" = cpu ]; then s --backend cpu >"$OUT/score-cpu.json" & runs="cpu $runs"; fi
    CTXSCOPE_PRECISION_KERNELS=f32 s --backend gpu >"$OUT/score-gpu-f32.json"
    CTXSCOPE_PRECISION_KERNELS=fast s --backend gpu >"$OUT/score-gpu-fast.json"
    wait
    for f in $runs; do
      echo "score-$f: $(grep -o '"prompt_tokens":[0-9]*' "$OUT/score-$f.json") $(grep -o '"logprob_sum":[^,}]*' "$OUT/score-$f.json")"
    done
    ;;
  devset)
    vulkan
    python3 scripts/device/devset.py "$W/ctxscope" "$W/model.gguf" .dev/hf-devset.json "$OUT/devset" | tee "$OUT/devset.txt"
    ;;
  devices)
    # The same grid with `--devices all`: one child shard per GPU, merged by the parent.
    vulkan
    start=$(date +%s%N)
    "$W/ctxscope" sweep --model "$W/model.gguf" --config examples/niah-grid.json --backend gpu --devices all \
      --out "$W/niah-devices.json" >"$W/niah-devices.link" 2>"$OUT/niah-devices.log"
    end=$(date +%s%N)
    echo "NIAH grid, --devices all: $(( (end - start) / 1000000 )) ms" | tee "$OUT/niah-devices.txt"
    tail -4 "$OUT/niah-devices.log"
    grep -o '"result_hash": *"[0-9a-f]*"' "$W/niah-devices.json" | tee -a "$OUT/niah-devices.txt"
    ;;
  *) echo "unknown step $1" >&2; exit 2 ;;
esac

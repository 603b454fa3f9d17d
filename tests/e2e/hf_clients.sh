#!/usr/bin/env bash
# hf_clients.sh - real Hugging Face clients against elvesd:
#   - @huggingface/hub and transformers.js (tests/hf-clients/hub_client.mjs:
#     createRepo, uploadFiles inline + LFS with an hf_ token, listFiles,
#     fileDownloadInfo, downloadFile whole and by ranges, an old commit,
#     createBranch (409 the second time) and a download at it, listCommits,
#     countCommits, deleteBranch, listModels with a search, deleteRepo and
#     repoExists, AutoConfig + AutoTokenizer with env.remoteHost), installed with npm
#     from tests/hf-clients/package-lock.json into the build directory;
#   - aria2c, and curl, fetching one file as many parallel ranges, like hfd
#     does, compared by SHA-256.
# Only when npm cannot install the packages (no registry reachable) does the
# JS part print a SKIP line; everything else is a real failure.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
e2e_init hf_clients 600

need node npm aria2c
big=$DATA/human-movenet-lightning.safetensors

start_server
TOKEN=$("$ELVESD" token create --data "$T/data" --name ci --write)
AUTH=(-H "Authorization: Bearer $TOKEN")

# ---- parallel ranges (hfd / aria2c style) ---------------------------------------
s=$(req POST "$BASE/api/repos/create" "${AUTH[@]}" --data '{"name":"acme/ranges"}')
expect_status "$s" 200 "create acme/ranges"
s=$(req PUT "$BASE/api/v1/repos/acme/ranges/files/model.safetensors" "${AUTH[@]}" -T "$big")
expect_status "$s" 201 "upload the big file"
url=$BASE/acme/ranges/resolve/main/model.safetensors
aria2c -q -x 16 -s 16 -k 1M --max-tries=1 --timeout=60 \
  --header="Authorization: Bearer $TOKEN" -d "$T" -o aria.bin "$url" ||
  fail "aria2c download"
[ "$(sha "$T/aria.bin")" = "$(sha "$big")" ] || fail "aria2c bytes differ"
pass
size=$(fsize "$big"); parts=24; step=$(( (size + parts - 1) / parts )); pids=()
for i in $(seq 0 $((parts - 1))); do
  a=$((i * step)); b=$((a + step - 1)); [ $b -ge $size ] && b=$((size - 1))
  "${CURL[@]}" -f -H "Range: bytes=$a-$b" "${AUTH[@]}" -o "$T/part.$i" "$url" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a parallel range request failed"; done
for i in $(seq 0 $((parts - 1))); do cat "$T/part.$i"; done >"$T/assembled.bin"
[ "$(sha "$T/assembled.bin")" = "$(sha "$big")" ] || fail "assembled ranges differ"
pass

# ---- the JS clients ------------------------------------------------------------------------
NODE_DIR=$ELVES_BUILD/hf-clients
mkdir -p "$NODE_DIR"
if ! cmp -s "$ELVES_SRC/tests/hf-clients/package-lock.json" "$NODE_DIR/package-lock.json" ||
  [ ! -d "$NODE_DIR/node_modules/@huggingface/hub" ]; then
  cp "$ELVES_SRC/tests/hf-clients/package.json" "$ELVES_SRC/tests/hf-clients/package-lock.json" "$NODE_DIR/"
  if ! (cd "$NODE_DIR" && timeout 300 npm ci --no-audit --no-fund --ignore-scripts >"$T/npm.log" 2>&1); then
    echo "SKIP: npm could not install @huggingface/hub and @huggingface/transformers" \
      "(no npm registry reachable?): $(tail -3 "$T/npm.log" | tr '\n' ' ')"
    stop_server
    finish
    exit 77 # ctest reports the test as skipped (SKIP_RETURN_CODE)
  fi
fi
cp "$ELVES_SRC/tests/hf-clients/hub_client.mjs" "$NODE_DIR/"
out=$(cd "$NODE_DIR" && timeout 300 node hub_client.mjs "$BASE" "$TOKEN" "$big" 2>&1) ||
  fail "hub_client.mjs: $out"
echo "$out"
[[ $out == *"transformers.js ok"* ]] || fail "transformers.js did not run: $out"
pass

stop_server
finish

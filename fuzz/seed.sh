#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the fixtures under testdata/ (files the original tools and
# the other projects wrote), one file per seed named by its content hash, so reruns add
# nothing twice. Run from anywhere; then `RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET` (fuzz/README.md).
# Needs `zstd` (the `.iac` fixtures are stored zstd-compressed).
set -euo pipefail
cd "$(dirname "$0")/.."

corpus=fuzz/corpus

# add TARGET FILE: copies FILE into the target's corpus.
add() {
    mkdir -p "$corpus/$1"
    cp "$2" "$corpus/$1/$(sha1sum "$2" | cut -c1-16)"
}

# each TARGET FIND-ARGS...: every fixture file find(1) selects.
each() {
    local target=$1
    shift
    while IFS= read -r -d '' f; do
        add "$target" "$f"
    done < <(find testdata -type f -size -4096k "$@" -print0)
}

each repo_config -name '*.repository'
each signals_file -name '*.signals'
each dictionary -path '*/dicts/*'
each convert_config -name '*.convert_config'
# MODE 3 `.idx` (native_index); every `.idx` again behind two parameter bytes (sparse_idx, below).
each native_index -path '*/repo*' -name '*.idx'
each legacy_index -path '*/legacy/*' -name '*.idx'
each legacy_full_header -path '*/legacy/*' -name '*.data'
each gnz_store -name '*.gnz'
each trx_zip -name '*.trx'
each tar_scan -name '*.tar'

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

while IFS= read -r -d '' f; do
    printf '\007\000' > "$tmp/s"
    cat "$f" >> "$tmp/s"
    add sparse_idx "$tmp/s"
done < <(find testdata -type f -size -1024k -name '*.idx' -print0)

# `.iac`: the decompressed container (iac_store); its Arrow IPC tables are reached from there.
while IFS= read -r -d '' f; do
    zstd -q -d -c "$f" > "$tmp/iac"
    add iac_store "$tmp/iac"
done < <(find testdata -type f -name '*.iac.zst' -print0)

# TRX `header.json` members (trx_header): from the unpacked TRX fixtures.
each trx_header -path '*/trx/*' -name 'header.json'

# itar_store: a `.taridx`, the separator, then the first shard it indexes.
while IFS= read -r -d '' idx; do
    shard=$(find "$(dirname "$idx")" -maxdepth 1 -name '*.tar' | sort | head -n 1)
    [[ -n "$shard" ]] || continue
    { cat "$idx"; printf '\n--SHARD--\n'; cat "$shard"; } > "$tmp/itar"
    add itar_store "$tmp/itar"
done < <(find testdata -type f -name '*.taridx' -print0)

each all_pids_list -name '*_all_pids.list'

# transpose: the small repository's `.pid_idx`, then `\n--CHUNK--\n` before each chunk (the
# target parses against that repository's catalog).
small=testdata/inframed/small/repo/data/small_rep_
{
    cat "${small}_pids__all.pid_idx"
    for c in "${small}"_pids__[0-9]*.pid_data; do
        printf '\n--CHUNK--\n'
        cat "$c"
    done
} > "$tmp/transpose"
add transpose "$tmp/transpose"

# tsv_lines: a flags byte (input kind, numbered, SAFE_MODE), then a MedConvert input file of the
# small repository: DATA files as kind 0, the demographics file as DEMOGRAPHICS (2).
while IFS= read -r -d '' f; do
    case "$f" in
    *demographic*) printf '\002' > "$tmp/tsv" ;;
    *) printf '\000' > "$tmp/tsv" ;;
    esac
    head -c 65536 "$f" >> "$tmp/tsv"
    add tsv_lines "$tmp/tsv"
done < <(find testdata/inframed/small/input/data -type f -name '*.tsv' -print0)

# npy_header: the `.npy` files numpy wrote (testdata/npy/make_npy.py).
each npy_header -path '*/npy/*' -name '*.npy'

for d in "$corpus"/*/; do
    printf '%-20s %4d seeds\n' "$(basename "$d")" "$(find "$d" -type f | wc -l)"
done

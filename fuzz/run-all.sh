#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS seconds.
#
#   fuzz/run-all.sh SECONDS [TARGET...]
#
# Exits non-zero if any target crashes, times out, leaks or runs out of
# memory, after printing the offending input in hex (and the path of the
# saved artifact). Needs no stdin. Installs cargo-fuzz if it is missing.
#
# Environment:
#   FUZZ_TOOLCHAIN   toolchain for `cargo +TOOLCHAIN fuzz` (default: nightly)
#   FUZZ_FEATURES    cargo features for the targets (see README.md, Known bugs)
#
# New inputs that find coverage go to fuzz/target/corpus/<target>, which
# grows run to run; the checked-in seeds in fuzz/corpus/<target> are only
# read. libFuzzer's statistics for each target go to
# fuzz/target/fuzz-logs/<target>.log, and a summary is printed at the end.
set -euo pipefail
exec </dev/null

if [[ $# -lt 1 || ! "$1" =~ ^[0-9]+$ ]]; then
    echo "usage: $0 SECONDS [TARGET...]" >&2
    exit 2
fi
seconds=$1
shift

cd "$(dirname "${BASH_SOURCE[0]}")"
toolchain=${FUZZ_TOOLCHAIN:-nightly}
features=()
if [[ -n "${FUZZ_FEATURES:-}" ]]; then
    features=(--features "$FUZZ_FEATURES")
fi

if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
    echo "installing the $toolchain toolchain" >&2
    rustup toolchain install "$toolchain" --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo "+$toolchain" fuzz list)
fi

echo "== building ${targets[*]}"
cargo "+$toolchain" fuzz build "${features[@]}"

hex() {
    if command -v xxd >/dev/null 2>&1; then
        xxd -p -c 32 "$1"
    else
        od -An -v -tx1 "$1" | tr -d ' \n' | fold -w 64
        echo
    fi
}

mkdir -p target/fuzz-logs
failed=()
summary=()
for target in "${targets[@]}"; do
    work=target/corpus/$target
    log=target/fuzz-logs/$target.log
    mkdir -p "$work" "artifacts/$target" "corpus/$target"
    echo "== $target: ${seconds}s"
    status=0
    cargo "+$toolchain" fuzz run "${features[@]}" "$target" "$work" "corpus/$target" -- \
        -max_total_time="$seconds" \
        -rss_limit_mb=2048 \
        -timeout=30 \
        -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    # The last status line: "#N DONE cov: C ft: F corp: ... exec/s: E".
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    execs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{print $2}' | tail -n 1)
    if [[ -z "$execs" ]]; then
        execs=$(grep -oE '^#[0-9]+' <<<"$last" | tr -d '#' || true)
    fi
    summary+=("$(printf '%-18s execs=%-10s %s' "$target" "$execs" "$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' <<<"$last" || true)")")
    if [[ $status -ne 0 ]]; then
        failed+=("$target")
        echo "!! $target failed (exit $status); log: fuzz/$log"
        grep -E "panicked at|^[^ ].*(assert|failed)|ERROR: libFuzzer|SUMMARY" "$log" | head -n 20 || true
        grep -A3 "panicked at" "$log" | head -n 12 || true
        # Every input libFuzzer saved for this run.
        grep -oE 'Test unit written to [^ ]+' "$log" | awk '{print $5}' | sort -u | while read -r artifact; do
            [[ -f "$artifact" ]] || continue
            echo "-- crashing input: $artifact ($(wc -c <"$artifact") bytes), hex:"
            hex "$artifact"
            echo "-- reproduce (in fuzz/): cargo +$toolchain fuzz run $target $artifact"
        done
    fi
done

echo
echo "== summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all targets ran clean"

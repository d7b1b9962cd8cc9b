#!/usr/bin/env bash
# Breaks ckplan on purpose, one patch at a time, and checks that the test each patch names
# goes red (README "Development"; README.md here lists them). Each `*.patch` here starts
# with one line saying what it breaks and a `test:` line with the `cargo test` arguments
# that must then fail; the rest is a `git diff`.
#
#   bash tests/sabotage/run.sh                  # every patch
#   bash tests/sabotage/run.sh dropped-write    # some, by name
#
# The patches are applied in a detached worktree of HEAD (the checkout is never touched),
# built in a target directory of its own (`target/sabotage`: cargo names a workspace's
# artifacts independently of its path, so sharing the checkout's target directory would
# leave broken builds behind that cargo takes as fresh). A patch
# that no longer applies or builds is reported as such, never as caught; a run that fails
# without the named test going red (another test, a crash, no test at all) is reported as
# WRONG. Exit status: 0 when every patch was caught by the test it names.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(git -C "$here" rev-parse --show-toplevel)
scratch=$(mktemp -d)
tree="$scratch/tree"
git -C "$root" worktree add --quiet --detach "$tree" HEAD
cleanup() {
    git -C "$root" worktree remove --force "$tree"
    rm -rf "$scratch"
}
trap cleanup EXIT
export CARGO_TARGET_DIR="$root/target/sabotage"

if [ $# -gt 0 ]; then
    patches=()
    for name in "$@"; do patches+=("$here/$name.patch"); done
else
    patches=("$here"/*.patch)
fi

failed=0
for patch in "${patches[@]}"; do
    name=$(basename "$patch" .patch)
    what=$(head -n 1 "$patch")
    read -r -a args <<<"$(sed -n 's/^test: //p' "$patch" | head -n 1)"
    git -C "$tree" checkout --quiet -- .
    if ! git -C "$tree" apply "$patch"; then
        echo "STALE    $name: the patch no longer applies"
        failed=1
        continue
    fi
    if ! (cd "$tree" && cargo test --locked --quiet --no-run "${args[@]}" >"$scratch/build.log" 2>&1); then
        echo "STALE    $name: the broken code does not build (see below)"
        tail -n 20 "$scratch/build.log"
        failed=1
        continue
    fi
    # The named test: the `test:` line's filter (its last word after the target), run
    # with `--exact` so it is the only test that runs. Without a filter (`--bench sync`),
    # the target's own checks are the test.
    filter=""
    if [ "${#args[@]}" -gt 0 ]; then
        last=${args[${#args[@]}-1]}
        before=""
        [ "${#args[@]}" -gt 1 ] && before=${args[${#args[@]}-2]}
        case "$last" in
        --*) ;;
        *) case "$before" in --test | --bench | --example | -p | --package) ;; *) filter=$last ;; esac ;;
        esac
    fi
    exact=()
    [ -n "$filter" ] && exact=(-- --exact)
    if (cd "$tree" && cargo test --locked --quiet "${args[@]}" "${exact[@]}" >"$scratch/test.log" 2>&1); then
        echo "MISSED   $name: \`cargo test ${args[*]}\` passed with: $what"
        failed=1
        continue
    fi
    failing=$(grep -E '^test .* FAILED$|^---- .* stdout ----$|^check .* FAILED$' "$scratch/test.log" \
        | sed -E 's/^---- (.*) stdout ----$/\1/; s/^test (.*) \.\.\. FAILED$/\1/; s/^check (.*) \.\.\. FAILED$/check "\1"/' \
        | sort -u)
    # Caught only when the named test itself went red: not a crash of the test binary, not
    # another test, not a run that failed before any test did.
    if [ -n "$filter" ]; then
        red=$(grep -Fx -- "$filter" <<<"$failing")
    else
        red=$(head -n 3 <<<"$failing" | paste -sd, -)
    fi
    if [ -n "$red" ]; then
        echo "caught   $name: $red <- $what"
    else
        echo "WRONG    $name: \`cargo test ${args[*]}\` failed, but not ${filter:-by a test or check}: ${failing:-no test failed} (see below)"
        tail -n 20 "$scratch/test.log"
        failed=1
    fi
done
git -C "$tree" checkout --quiet -- .
exit $failed

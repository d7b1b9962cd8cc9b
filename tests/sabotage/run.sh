#!/usr/bin/env bash
# Breaks ckplan on purpose, one patch at a time, and checks that the test each patch names
# goes red (README "Development"). Each `*.patch` here starts with one line saying what it
# breaks and a `test:` line with the `cargo test` arguments that must then fail; the rest
# is a `git diff`.
#
#   bash tests/sabotage/run.sh                  # every patch
#   bash tests/sabotage/run.sh dropped-write    # some, by name
#
# The patches are applied in a detached worktree of HEAD (the checkout is never touched),
# built in a target directory of its own (`target/sabotage`: cargo names a workspace's
# artifacts independently of its path, so sharing the checkout's target directory would
# leave broken builds behind that cargo takes as fresh). A patch
# that no longer applies or builds is reported as such, never as caught. Exit status: 0
# when every patch was caught.
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
    if (cd "$tree" && cargo test --locked --quiet "${args[@]}" >"$scratch/test.log" 2>&1); then
        echo "MISSED   $name: \`cargo test ${args[*]}\` passed with: $what"
        failed=1
    else
        failing=$(grep -E '^test .* FAILED$|^---- .* stdout ----$|^check .* FAILED$' "$scratch/test.log" \
            | sed -E 's/^---- (.*) stdout ----$/\1/; s/^test (.*) \.\.\. FAILED$/\1/; s/^check (.*) \.\.\. FAILED$/check "\1"/' \
            | sort -u | head -n 3 | paste -sd, -)
        echo "caught   $name: ${failing:-cargo test ${args[*]} failed} <- $what"
    fi
done
git -C "$tree" checkout --quiet -- .
exit $failed

#!/usr/bin/env bash
# The hostile-code suite as an ordinary user: the sandbox without root (user, PID, mount and
# network namespaces of its own; harness/sandbox/isolation.py), required to be fully isolated
# (HARNESS_SANDBOX_REQUIRE_STRICT). As root this creates the user `harness-ci` and lets it
# traverse (o+x, never read) the directories above the repository and the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
python=".venv/bin/python"
suite=(-m pytest -q -p no:cacheprovider tests/harness/sandbox)
if [ "$(id -u)" != 0 ]; then
    HARNESS_SANDBOX_REQUIRE_STRICT=1 "$python" "${suite[@]}"
    exit
fi
user=harness-ci
id -u "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
home="$(getent passwd "$user" | cut -d: -f6)"
for target in "$PWD" "$(readlink -f "$python")"; do
    dir="$(dirname "$target")"
    while [ "$dir" != / ]; do
        if ! runuser -u "$user" -- test -x "$dir"; then
            echo "sandbox CI: chmod o+x $dir (so that $user can reach $target)"
            chmod o+x "$dir"
        fi
        dir="$(dirname "$dir")"
    done
done
cd /tmp  # the suite's own paths are absolute; the repository is not writable for that user
runuser -u "$user" -- env HOME="$home" HARNESS_SANDBOX_REQUIRE_STRICT=1 \
    "$OLDPWD/$python" "${suite[@]/#tests/$OLDPWD/tests}"

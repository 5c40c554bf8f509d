#!/usr/bin/env bash
# The app's one list of components, read from spin.toml: every `[component.<id>]`
# table, in manifest order, as the cargo package its build command names
# (`command = "cargo build ... -p <package>"`). Prints a cargo package list:
#
#   scripts/lib/components.sh                       -p inventory -p availability ...
#   scripts/lib/components.sh --with-test-fixtures  the same, plus the test fixtures
#   scripts/lib/components.sh --test-fixtures       the test fixtures only
#
# Used by scripts/test, scripts/up, scripts/bench and .ci/run. Adding a component
# to spin.toml (with its build command) is enough for all of them; the workspace
# members in Cargo.toml still list each crate.
set -euo pipefail
manifest="$(dirname "$0")/../../spin.toml"

# Not in spin.toml because they are not part of the app: trap-fixture is a
# component the local runtime's trap-isolation test (tests/host) serves.
test_fixtures=(trap-fixture)

with_components=true
with_fixtures=false
case "${1:-}" in
    "") ;;
    --with-test-fixtures) with_fixtures=true ;;
    --test-fixtures) with_components=false; with_fixtures=true ;;
    *) echo "usage: $0 [--with-test-fixtures | --test-fixtures]" >&2; exit 2 ;;
esac

# Plain POSIX awk (mawk, busybox): no gawk extensions.
packages=$(awk '
    /^[ \t]*\[/ {
        table = $0
        sub(/^[ \t]*\[+[ \t]*/, "", table)
        sub(/[ \t]*\]+[ \t]*(#.*)?$/, "", table)
        if (table ~ /^component\.[A-Za-z0-9_-]+$/) {
            id = substr(table, length("component.") + 1)
            ids[++n] = id
        }
        next
    }
    table ~ /^component\.[A-Za-z0-9_-]+\.build$/ && /^[ \t]*command[ \t]*=/ {
        id = substr(table, length("component.") + 1)
        sub(/\.build$/, "", id)
        if (match($0, /(-p|--package)[ \t=]+[A-Za-z0-9_-]+/)) {
            pkg = substr($0, RSTART, RLENGTH)
            sub(/^(-p|--package)[ \t=]+/, "", pkg)
            package[id] = pkg
        }
    }
    END {
        if (n == 0) { print "no [component.<id>] tables found" > "/dev/stderr"; exit 1 }
        for (i = 1; i <= n; i++) {
            if (!(ids[i] in package)) {
                print "component " ids[i] ": its build command names no `-p <package>`" > "/dev/stderr"
                exit 1
            }
            print package[ids[i]]
        }
    }
' "$manifest") || { echo "$0: cannot read the components from $manifest" >&2; exit 1; }

args=()
if $with_components; then
    for pkg in $packages; do args+=(-p "$pkg"); done
fi
if $with_fixtures; then
    for pkg in "${test_fixtures[@]}"; do args+=(-p "$pkg"); done
fi
echo "${args[*]}"

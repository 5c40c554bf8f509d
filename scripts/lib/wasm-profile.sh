#!/usr/bin/env bash
# The cargo profile of the .wasm files spin.toml serves: the `<profile>` in its
# `source = "target/wasm32-wasip2/<profile>/<name>.wasm"` lines (all must agree).
set -euo pipefail
manifest="$(dirname "$0")/../../spin.toml"
profiles=$(sed -n 's#^[ \t]*source[ \t]*=[ \t]*"target/wasm32-wasip2/\([^/"]*\)/[^"]*\.wasm".*#\1#p' "$manifest" | sort -u)
if [[ $(wc -w <<<"$profiles") -ne 1 ]]; then
    echo "$0: spin.toml's component sources name no single profile: ${profiles:-none}" >&2
    exit 1
fi
echo "$profiles"

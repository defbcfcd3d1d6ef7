#!/usr/bin/env bash
# Installs the agent CLIs the e2e tier drives (opencode, Claude Code, Codex CLI) into .cache/agents, from the npm
# registry, pinned to the versions the e2e tier was verified with. Kept out of
# package.json: they are ~300 MB of native binaries that `npm install && npm test` users never need.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=.cache/agents
PACKAGES=(opencode-ai@1.18.33 @anthropic-ai/claude-code@2.1.332 @openai/codex@0.169.0)
stamp="$PREFIX/.installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${PACKAGES[*]}" ] \
  && [ -x "$PREFIX/node_modules/.bin/opencode" ] && [ -x "$PREFIX/node_modules/.bin/claude" ] && [ -x "$PREFIX/node_modules/.bin/codex" ]; then
  exit 0
fi
mkdir -p "$PREFIX"
[ -f "$PREFIX/package.json" ] || echo '{"name":"boocode-router-e2e-agents","private":true}' > "$PREFIX/package.json"
npm install --prefix "$PREFIX" --no-audit --no-fund --save-exact "${PACKAGES[@]}" >&2
echo "${PACKAGES[*]}" > "$stamp"
for bin in opencode claude codex; do echo "$bin: $("$PREFIX/node_modules/.bin/$bin" --version 2>&1 | head -1)" >&2; done

#!/usr/bin/env bash
# The release flow, proven on a scratch clone of the committed repository (HEAD: uncommitted work is not in it):
#   git clone -> pnpm install --frozen-lockfile -> pnpm build -> pnpm changeset status -> pnpm changeset version
#   -> pnpm -r publish --dry-run --no-git-checks (every public package, in dependency order)
# and checks that each package's dry-run tarball lists its entry point (`exports["."]` / `bin`) under dist/, and
# never a native binary built on this machine (native/build/). Nothing is published; the clone is removed at exit.
# Needs the npm registry (pnpm asks it whether each version is already published).
set -euo pipefail

repo="$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
work="$(mktemp -d "${TMPDIR:-/tmp}/ds-release-check.XXXXXX")"
trap 'rm -rf "$work"' EXIT
step() { printf '\n== release-check: %s\n' "$*"; }

step "clone $repo (HEAD $(git -C "$repo" rev-parse --short HEAD))"
git clone --quiet "$repo" "$work/ds"
cd "$work/ds"

step "install and build"
pnpm install --frozen-lockfile --reporter=append-only >"$work/install.log" 2>&1 || {
  cat "$work/install.log"
  exit 1
}
pnpm build --output-logs=errors-only

step "changesets"
pnpm changeset status
pnpm changeset version
git --no-pager diff --stat -- '*package.json' '*CHANGELOG.md'

step "publish --dry-run of every public package"
pnpm -r publish --dry-run --no-git-checks >"$work/publish.log" 2>&1 || {
  cat "$work/publish.log"
  exit 1
}

# Each public package: its name, version and the files its tarball must hold (entry point, bins).
node --input-type=module >"$work/expected.tsv" <<'JS'
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
const list = JSON.parse(execFileSync("pnpm", ["-r", "ls", "--depth", "-1", "--json"], { encoding: "utf8" }))
for (const { path } of list) {
  const pkg = JSON.parse(readFileSync(`${path}/package.json`, "utf8"))
  if (pkg.private) continue
  const exportsField = pkg.publishConfig?.exports ?? pkg.exports
  const entry = exportsField?.["."]?.default ?? exportsField?.["."] ?? pkg.main
  const bins = typeof pkg.bin === "string" ? [pkg.bin] : Object.values(pkg.bin ?? {})
  const files = [entry, ...bins].filter((file) => typeof file === "string").map((file) => file.replace(/^\.\//, ""))
  console.log([pkg.name, pkg.version, ...new Set(files)].join("\t"))
}
JS

# npm's dry-run listing: "npm notice <size> <path>" lines, then "npm notice name: <package>" in Tarball Details.
failed=0
while IFS=$'\t' read -r name version files; do
  listing="$(awk -v want="$name" '
    /npm notice Tarball Contents/ { n = 0; delete lines; next }
    /npm notice [0-9.]+k?M?B / { lines[++n] = $NF; next }
    /npm notice name: / { if ($NF == want) for (i = 1; i <= n; i++) print lines[i] }
  ' "$work/publish.log")"
  if [ -z "$listing" ]; then
    echo "FAIL $name@$version: no dry-run tarball in the publish output"
    failed=1
    continue
  fi
  for file in $files; do
    if ! grep -qxF "$file" <<<"$listing"; then
      echo "FAIL $name@$version: tarball lacks $file"
      failed=1
    fi
  done
  if grep -q '^native/build/' <<<"$listing"; then
    echo "FAIL $name@$version: tarball carries a native binary built here (native/build/)"
    failed=1
  fi
  echo "ok   $name@$version: $(wc -l <<<"$listing") files, has $files"
done <"$work/expected.tsv"

if [ "$failed" -ne 0 ]; then
  echo "release-check: FAILED (publish output: kept above)"
  exit 1
fi
echo "release-check: every public package versions and packs with its dist/"

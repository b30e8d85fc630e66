#!/usr/bin/env bash
# Fetches llama.cpp as npm ships it and builds bench/llama/llama_harness.cpp against it. Nothing of
# llama.cpp is committed here: the prebuilt CPU libraries come from @node-llama-cpp/linux-x64 and the
# matching headers from the git bundle of llama.cpp's source inside node-llama-cpp (llama/gitRelease.bundle).
#
#   bench/llama/build.sh          prints the harness's path on stdout (progress on stderr)
#
# Cache: $ILLUME_LLAMA_CACHE, default ~/.cache/illume/llama.cpp-npm-<version> (one fetch per machine;
# concurrent callers wait on a lock). Exit status 77 when npm or its registry cannot be reached (tests
# turn that into a visible skip); 1 on any other failure.
set -euo pipefail

VERSION="${LLAMA_NPM_VERSION:-3.22.1}"
CACHE="${ILLUME_LLAMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/illume/llama.cpp-npm-$VERSION}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SOURCE="$HERE/llama_harness.cpp"

say() { echo "llama.cpp: $*" >&2; }

mkdir -p "$(dirname "$CACHE")"
exec 9>"$CACHE.lock"
flock 9

# A failed fetch is remembered for 10 minutes, so that a test run without network (each test is its
# own process) does not wait on npm's retries again and again.
UNREACHABLE="$CACHE.unreachable"
if [ ! -f "$CACHE/ready" ] && [ -f "$UNREACHABLE" ] && [ -n "$(find "$UNREACHABLE" -mmin -10 2>/dev/null)" ]; then
  say "$(cat "$UNREACHABLE") (remembered from a fetch less than 10 minutes ago; delete $UNREACHABLE to retry)"
  exit 77
fi

if [ ! -f "$CACHE/ready" ]; then
  command -v npm >/dev/null 2>&1 || { say "npm is not installed; cannot fetch node-llama-cpp@$VERSION"; exit 77; }
  command -v git >/dev/null 2>&1 || { say "git is not installed (needed to read llama.cpp's source bundle)"; exit 1; }
  work="$(mktemp -d "$CACHE.tmp.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  say "fetching node-llama-cpp@$VERSION and @node-llama-cpp/linux-x64@$VERSION from npm"
  if ! (cd "$work" && npm pack --loglevel=error --fetch-retries=1 --fetch-retry-mintimeout=2000 --fetch-timeout=20000 \
          "node-llama-cpp@$VERSION" "@node-llama-cpp/linux-x64@$VERSION" >"$work/npm.log" 2>&1); then
    echo "npm could not fetch node-llama-cpp@$VERSION (registry unreachable?): $(grep -m 4 'npm error' "$work/npm.log" | grep -v ' at ' | tr '\n' ' ')" >"$UNREACHABLE"
    say "$(cat "$UNREACHABLE")"
    exit 77
  fi
  rm -f "$UNREACHABLE"
  mkdir -p "$work/source-package" "$work/binary-package"
  tar -xzf "$work"/node-llama-cpp-"$VERSION".tgz -C "$work/source-package"
  tar -xzf "$work"/node-llama-cpp-linux-x64-"$VERSION".tgz -C "$work/binary-package"
  llama_dir="$work/source-package/package/llama"
  bins="$work/binary-package/package/bins/linux-x64"
  # The headers must be those of the release the binaries were built from.
  # (node comes with npm: no other JSON reader is needed)
  json_field() { node -e 'let v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
                          for (const k of process.argv[2].split(".")) v = v[k]; console.log(v)' "$1" "$2"; }
  source_tag="$(json_field "$llama_dir/llama.cpp.info.json" tag)"
  binary_tag="$(json_field "$llama_dir/binariesGithubRelease.json" release)"
  built_tag="$(json_field "$bins/_nlcBuildMetadata.json" buildOptions.llamaCpp.release)"
  if [ "$source_tag" != "$binary_tag" ] || [ "$source_tag" != "$built_tag" ]; then
    say "release tags disagree: source bundle $source_tag, binariesGithubRelease $binary_tag, binaries built from $built_tag"
    exit 1
  fi
  git clone --quiet "$llama_dir/gitRelease.bundle" "$work/llama.cpp" 2>/dev/null
  commit="$(git -C "$work/llama.cpp" rev-parse HEAD)"
  mkdir -p "$work/cache/include" "$work/cache/bin"
  cp "$work/llama.cpp/include/"*.h "$work/llama.cpp/ggml/include/"*.h "$work/cache/include/"
  cp "$bins"/*.so "$work/cache/bin/"
  printf '{"node_llama_cpp": "%s", "llama_cpp_release": "%s", "llama_cpp_commit": "%s"}\n' \
    "$VERSION" "$source_tag" "$commit" >"$work/cache/version.json"
  rm -rf "$CACHE"
  mv "$work/cache" "$CACHE"
  touch "$CACHE/ready"
  say "cached in $CACHE (llama.cpp $source_tag, commit ${commit:0:8})"
fi

HARNESS="$CACHE/bin/llama_harness"
if [ ! -x "$HARNESS" ] || [ "$SOURCE" -nt "$HARNESS" ]; then
  say "building $HARNESS"
  # The program lives beside the libraries: $ORIGIN finds them, and the CPU backend variants
  # (libggml-cpu-*.so) are loaded from the program's folder.
  ${CXX:-g++} -std=c++17 -O2 -Wall -I"$CACHE/include" "$SOURCE" -o "$HARNESS.tmp.$$" \
    "$CACHE"/bin/libllama.v*.so "$CACHE"/bin/libggml.v*.so "$CACHE"/bin/libggml-base.so \
    -Wl,-rpath,'$ORIGIN'
  mv "$HARNESS.tmp.$$" "$HARNESS"
fi
echo "$HARNESS"

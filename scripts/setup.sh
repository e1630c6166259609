#!/usr/bin/env bash
# Installs the Debian packages Cairn needs (only the missing ones, without recommends), fetches
# the data sets the examples use, then configures and builds Release into build/. Idempotent:
# a second run installs nothing and rebuilds only what changed.
#
#   scripts/setup.sh            # packages + build
#   CAIRN_SKIP_BUILD=1 scripts/setup.sh   # packages and data only
#   CAIRN_BUILD_TARGETS="cairn-aggregator cairn-participant" scripts/setup.sh   # only these targets
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

packages=(
  build-essential cmake ninja-build pkg-config
  libzmq3-dev cppzmq-dev capnproto libcapnp-dev libsodium-dev libssl-dev libeigen3-dev
  libtorch-dev libopenblas0-pthread libcli11-dev libtomlplusplus-dev libspdlog-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev libcpp-httplib-dev
  dataset-fashion-mnist gnuplot-nox clang-14 libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${#missing[@]} Debian package(s): ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The breast-cancer CSV ships inside python3-sklearn. Use the installed file when the package is
# there; otherwise download the .deb and unpack just that file, without its Python dependencies.
data_dir="$root/build/datasets"
mkdir -p "$data_dir"
bc="$data_dir/breast_cancer.csv"
if [ ! -s "$bc" ]; then
  sys_bc=/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv
  if [ -s "$sys_bc" ]; then
    cp "$sys_bc" "$bc"
  else
    echo "setup: fetching the breast-cancer data set from Debian's python3-sklearn package"
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download python3-sklearn >/dev/null 2>&1 || { apt-get update -qq && apt-get download python3-sklearn >/dev/null; })
    dpkg -x "$tmp"/python3-sklearn_*.deb "$tmp/x"
    cp "$tmp/x/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv" "$bc"
    rm -rf "$tmp"
  fi
fi
# Fashion-MNIST as the uncompressed IDX files libtorch's reader expects.
fm="$data_dir/fashion-mnist"
if [ ! -s "$fm/t10k-labels-idx1-ubyte" ]; then
  mkdir -p "$fm"
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    gunzip -c "/usr/share/datasets/fashion-mnist/$f.gz" > "$fm/$f"
  done
fi

if [ "${CAIRN_SKIP_BUILD:-0}" = "1" ]; then exit 0; fi
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
jobs=$(nproc)
if [ -n "${CAIRN_BUILD_TARGETS:-}" ]; then
  # shellcheck disable=SC2086 # a space-separated list of targets
  cmake --build build -j "$jobs" --target ${CAIRN_BUILD_TARGETS}
else
  cmake --build build -j "$jobs"
fi

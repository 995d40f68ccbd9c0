#!/usr/bin/env bash
# Installs the Debian packages alloy builds and tests with (clang for the libFuzzer targets,
# dataset-fashion-mnist for the fmnist8 suite, LAPACK for decompositions, gnuplot for comparison
# charts, pybind11 + numpy + pytest for the Python bindings), skipping the ones
# already there.
set -euo pipefail
packages=(cmake make g++ gcc libdnnl-dev libboost-dev libboost-program-options-dev libfmt-dev
  libyaml-cpp-dev nlohmann-json3-dev libgtest-dev libgmock-dev time
  zlib1g-dev liblapack-dev libblas-dev dataset-fashion-mnist clang libclang-rt-14-dev
  gnuplot-nox pybind11-dev python3-dev python3-numpy python3-pytest)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# Write the seed corpora to fuzz/corpus/<target>/seed-* (deterministic;
# see fuzz/README.md). Runs on stable: the generator is an ordinary
# (uninstrumented) example of the fuzz crate.
set -euo pipefail
cd "$(dirname "$0")"
cargo run --quiet --release --example gen_seeds -- "$PWD/corpus"

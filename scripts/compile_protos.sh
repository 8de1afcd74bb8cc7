#!/usr/bin/env bash
# Regenerates src/yt8m/formats/protos/descriptors.binpb from the .proto files beside it.
# Needs grpcio-tools (pip install grpcio-tools); any protoc version works, since only the
# descriptors (not generated Python code) are committed.
set -euo pipefail
cd "$(dirname "$0")/../src/yt8m/formats/protos"
python -m grpc_tools.protoc -I. --include_imports --descriptor_set_out=descriptors.binpb \
  feature.proto example.proto matrix_data.proto tensor.proto graph.proto checkpoint.proto
echo "wrote $(pwd)/descriptors.binpb"

"""Protocol buffer message classes for the formats yt8m reads and writes.

The ``.proto`` files beside this module are wire-compatible copies of the public
TensorFlow and MediaPipe schemas. ``scripts/compile_protos.sh`` compiles them into
``descriptors.binpb`` (a ``FileDescriptorSet``), which is loaded here into a private
descriptor pool. Committing descriptors rather than generated ``_pb2`` modules keeps
yt8m independent of the installed protobuf runtime's version, and the private pool
lets these classes live in one process with TensorFlow's own classes of the same
names without a clash.
"""

from __future__ import annotations

from importlib import resources

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_pool = descriptor_pool.DescriptorPool()
_files = descriptor_pb2.FileDescriptorSet.FromString(
    resources.files(__package__).joinpath("descriptors.binpb").read_bytes()
)
for _file in _files.file:
    _pool.Add(_file)


def _message(full_name: str) -> type:
    return message_factory.GetMessageClass(_pool.FindMessageTypeByName(full_name))


# tensorflow/core/example
BytesList = _message("tensorflow.BytesList")
FloatList = _message("tensorflow.FloatList")
Int64List = _message("tensorflow.Int64List")
Feature = _message("tensorflow.Feature")
Features = _message("tensorflow.Features")
FeatureList = _message("tensorflow.FeatureList")
FeatureLists = _message("tensorflow.FeatureLists")
Example = _message("tensorflow.Example")
SequenceExample = _message("tensorflow.SequenceExample")

# mediapipe/framework/formats
MatrixData = _message("mediapipe.MatrixData")

# tensorflow/core/framework (graphs and checkpoints)
TensorShapeProto = _message("tensorflow.TensorShapeProto")
TensorProto = _message("tensorflow.TensorProto")
AttrValue = _message("tensorflow.AttrValue")
NodeDef = _message("tensorflow.NodeDef")
GraphDef = _message("tensorflow.GraphDef")
TensorSliceProto = _message("tensorflow.TensorSliceProto")
SavedTensorSlices = _message("tensorflow.SavedTensorSlices")
BundleHeaderProto = _message("tensorflow.BundleHeaderProto")
BundleEntryProto = _message("tensorflow.BundleEntryProto")

DataType = _pool.FindEnumTypeByName("tensorflow.DataType")

__all__ = [
    "AttrValue", "BundleEntryProto", "BundleHeaderProto", "BytesList", "DataType",
    "Example", "Feature", "FeatureList", "FeatureLists", "Features", "FloatList",
    "GraphDef", "Int64List", "MatrixData", "NodeDef", "SavedTensorSlices",
    "SequenceExample", "TensorProto", "TensorShapeProto", "TensorSliceProto",
]

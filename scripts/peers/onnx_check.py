#!/usr/bin/env python3
"""Checks a gpuflow ONNX export with the ONNX tools themselves (run from .test-venv, which
scripts/test fills with onnx and onnxruntime from PyPI):

  onnx_check.py MODEL.onnx INPUTS.npy EXPECTED.npy

onnx.checker.check_model(full_check=True) validates the file (shape inference included), then
onnxruntime runs INPUTS through it; the outputs must match EXPECTED (what gpuflow computed)
within 1e-5 (absolute, plus 1e-5 relative). Prints one JSON line with what it found; exits 1
when the outputs differ, 2 when the file is refused.
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort

path, inputs, expected = sys.argv[1:4]
model = onnx.load(path)
try:
    onnx.checker.check_model(model, full_check=True)
except Exception as e:  # the checker's own error names the node
    print(json.dumps({"checker": str(e)}))
    sys.exit(2)
x = np.load(inputs).astype(np.float32)
want = np.load(expected).astype(np.float32)
session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
got = session.run(["output"], {"input": x})[0]
diff = float(np.max(np.abs(got - want))) if got.shape == want.shape else None
ok = got.shape == want.shape and bool(np.allclose(got, want, rtol=1e-5, atol=1e-5))
print(json.dumps({"checker": "ok", "opset": model.opset_import[0].version, "nodes": len(model.graph.node),
                  "shape": list(got.shape), "expected_shape": list(want.shape), "max_abs_diff": diff,
                  "onnx": onnx.__version__, "onnxruntime": ort.__version__, "match": ok}))
sys.exit(0 if ok else 1)

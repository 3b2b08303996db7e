"""bench/sam_backends.py runs (tiny SAM, CPU) and reports every backend present."""

import importlib.util
import json


def test_sam_backends_bench_tiny(repo_root, tmp_path):
    spec = importlib.util.spec_from_file_location("sam_backends", repo_root / "bench" / "sam_backends.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "bench.json"
    assert bench.main(["--tiny", "--device", "cpu", "--ks", "1,3", "--precisions", "fp32,fp16",
                       "--repeats", "1", "--warmup", "0", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    seen = {(r["part"], r["backend"], r["precision"], r["K"]) for r in result["rows"]}
    assert ("encoder", "torch", "fp16", None) in seen and ("decoder", "torch", "fp32", 3) in seen
    assert ("decoder", "onnxruntime", "fp32", 1) in seen and ("encoder", "onnxruntime", "fp32", None) in seen
    ort = [r for r in result["rows"] if r["backend"] == "onnxruntime"]
    assert all(r.get("max_abs_vs_fp32", r.get("embedding_max_abs_vs_fp32")) <= 1e-4 for r in ort)
    assert "| part | backend |" in result["markdown"]
    assert any(note.startswith("tensorrt") for note in result["notes"])

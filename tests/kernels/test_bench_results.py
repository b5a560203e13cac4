"""kernels.bench_results on small synthetic benchmark records (no GPU needed)."""

import json

import matplotlib.pyplot as plt
import pytest

from kernels.bench_results import latest_record, plot_tflops


def record(gpu: str, date: str, interpreter: bool = False) -> dict:
    rows = [
        {
            "dtype": dtype,
            "D": D,
            "N": N,
            "variant": variant,
            "mode": mode,
            "ours_tflops": 100.0 + N / 100 + D,
            "peer": "torch sdpa (flash_attention)",
            "peer_tflops": 90.0 + N / 100 + D,
        }  # fmt: skip
        for dtype in ("fp16", "bf16")
        for D in (64, 128)
        for N in (2048, 512, 1024)  # unsorted on purpose
        for variant in ("plain", "padded")
        for mode in ("fwd", "fwd+bwd")
    ]
    return {
        "gpu": gpu,
        "date": date,
        "torch": "2.13.0",
        "triton": "3.9.0",
        "interpreter": interpreter,
        "results": rows,
    }


def write(folder, name, rec):
    (folder / name).write_text(json.dumps(rec))


def test_latest_record_is_the_newest_gpu_run(tmp_path):
    assert latest_record(tmp_path) is None
    write(
        tmp_path,
        "attention_NVIDIA-H100_2026-01-02.json",
        record("NVIDIA H100", "2026-01-02T10:00:00"),
    )
    write(
        tmp_path,
        "attention_NVIDIA-A100_2026-03-01.json",
        record("NVIDIA A100", "2026-03-01T09:00:00"),
    )
    write(
        tmp_path,
        "attention_cpu-interpreter_2026-04-01.json",
        record("cpu", "2026-04-01T00:00:00", True),
    )
    write(tmp_path, "encoder_2026-05-01.json", {"date": "2026-05-01"})  # not an attention record
    latest = latest_record(tmp_path)
    assert latest["gpu"] == "NVIDIA A100"
    assert latest["path"].endswith("attention_NVIDIA-A100_2026-03-01.json")
    assert latest_record(tmp_path, include_interpreter=True)["gpu"] == "cpu"


def test_plot_tflops_draws_ours_and_sdpa_per_mode_and_head_width(tmp_path):
    rec = record("NVIDIA H100 80GB HBM3", "2026-01-02T10:00:00")
    fig = plot_tflops(rec)
    try:
        axes = fig.axes
        assert [ax.get_title() for ax in axes] == ["fwd", "fwd+bwd"]
        title = fig._suptitle.get_text()
        assert "NVIDIA H100 80GB HBM3" in title and "2026-01-02" in title and "fp16" in title
        lines = axes[0].get_lines()
        assert [ln.get_label() for ln in lines] == [
            "ours, D=64",
            "torch sdpa (flash_attention), D=64",
            "ours, D=128",
            "torch sdpa (flash_attention), D=128",
        ]
        assert list(lines[0].get_xdata()) == [512, 1024, 2048]
        assert list(lines[0].get_ydata()) == pytest.approx([169.12, 174.24, 184.48])
        assert list(lines[3].get_ydata()) == pytest.approx([223.12, 228.24, 238.48])
    finally:
        plt.close(fig)


def test_plot_tflops_defaults_to_what_the_record_has():
    rec = record("NVIDIA H100", "2026-01-02T10:00:00")
    rec["results"] = [r for r in rec["results"] if r["dtype"] == "bf16" and r["variant"] == "plain"]
    fig = plot_tflops(rec)
    try:
        assert "bf16, plain" in fig._suptitle.get_text()
        assert len(fig.axes[0].get_lines()) == 4
    finally:
        plt.close(fig)


def test_plot_tflops_names_what_is_missing():
    with pytest.raises(ValueError, match=r"no results for dtype='fp32', variant='padded'"):
        plot_tflops(record("NVIDIA H100", "2026-01-02T10:00:00"), dtype="fp32")

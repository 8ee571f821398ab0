"""What a benchmark ran on and what it measured: markdown for people, JSON for tools.

Numbers are only comparable on the same machine under the same load, so the report always
carries the CPU, the load average before and after, and the versions and providers in use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aepipe.runtime.reports.summary import STAGES
from aepipe.runtime.tasks.tiled import WHOLE_IMAGE_FACTOR
from aepipe.tools.bench.models import ORT_LABEL, TORCH_LABEL
from aepipe.tools.bench.peers import WAYS as PEER_WAYS
from aepipe.tools.bench.pipeline import CODEC_CAPACITY, IDENTITY_E2E, IN_MEMORY
from aepipe.tools.bench.timing import Timing, rate
from aepipe.tools.tables import MISSING, fmt, markdown_table


def summary_line(timing: Timing) -> str:
    """One log line per finished measurement, so a later crash cannot lose its numbers."""
    return (
        f"{timing.label} {timing.detail}: median {fmt(timing.seconds, 4)} s, "
        f"{fmt(timing.mp_per_s)} MP/s, CPU/wall {fmt(timing.cpu_per_wall, 1)}"
    )


def _note(timing: Timing) -> str:
    return f"FAILED: {timing.error}" if timing.error else timing.note


def model_table(timings: Sequence[Timing], threads: int) -> str:
    return _call_table(["engine", "input", "threads"], timings, [str(threads)])


def speedups(timings: Sequence[Timing], faster: str, slower: str) -> dict[str, float]:
    """``faster`` MP/s over ``slower`` MP/s, per input shape where both were measured."""
    by_key = {(t.label, t.detail): t.mp_per_s for t in timings}
    ratios = {}
    for (label, detail), value in by_key.items():
        other = by_key.get((slower, detail))
        if label == faster and value is not None and other:
            ratios[detail] = value / other
    return ratios


def pipeline_table(timings: Sequence[Timing]) -> str:
    headers = ["mode", "images", "MP", "s/pass", "images/s", "MP/s", "CPU/wall"]
    headers += [f"{stage} s" for stage in STAGES] + ["note"]
    rows = [
        [
            t.label,
            str(t.images),
            fmt(t.megapixels),
            fmt(t.seconds),
            fmt(t.images_per_s),
            fmt(t.mp_per_s),
            fmt(t.cpu_per_wall, 1),
            *(fmt(t.stages.get(stage)) for stage in STAGES),
            _note(t),
        ]
        for t in timings
    ]
    return markdown_table(headers, rows)


def codec_table(timings: Sequence[Timing]) -> str:
    return _call_table(["step", "work per call"], timings, [])


def _call_table(leading: list[str], timings: Sequence[Timing], extra: list[str]) -> str:
    """One row per timed call: label, detail, ``extra`` cells, ms/call, MP/s, CPU/wall, note."""
    headers = [*leading, "ms/call", "MP/s", "CPU/wall", "note"]
    rows = [
        [
            t.label,
            t.detail,
            *extra,
            fmt(t.seconds and t.seconds * 1000, 1),
            fmt(t.mp_per_s),
            fmt(t.cpu_per_wall, 1),
            _note(t),
        ]
        for t in timings
    ]
    return markdown_table(headers, rows)


def _percent(fraction: float | None) -> str:
    return MISSING if fraction is None else f"{100 * fraction:.0f}%"


def entropy_line(info: Mapping[str, Any]) -> str:
    """The issue's goal, measured: entropy coding MB/s and its share of the whole calls."""
    return (
        f"entropy coding: {fmt(info.get('entropy_encode_mb_s'), 1)} MB/s encode, "
        f"{fmt(info.get('entropy_decode_mb_s'), 1)} MB/s decode of int32 symbols "
        f"(target >= {info.get('entropy_target_mb_s', 50.0):g} MB/s); "
        f"{_percent(info.get('entropy_share_of_compress'))} of compress time, "
        f"{_percent(info.get('entropy_share_of_decompress'))} of decompress time"
    )


@dataclass
class BenchReport:
    date: str  # UTC, ISO 8601
    options: dict[str, Any]
    threads: int
    machine: dict[str, Any]
    load_before: list[float]
    load_after: list[float]
    info: dict[str, Any]  # model, sha256, providers really used, torch weights
    models: list[Timing]
    pipeline: list[Timing]
    codec: list[Timing]  # empty: skipped (--skip-codec)
    codec_info: dict[
        str, Any
    ]  # codec, rate, entropy coding speed and share (aepipe.tools.bench.compress)
    report_memory: list[dict[str, Any]] = field(default_factory=list)  # --report-keys
    image_memory: list[dict[str, Any]] = field(default_factory=list)  # --image-mp

    @property
    def failures(self) -> list[str]:
        """Labels of the measurements that failed (the report still holds the others)."""
        return [t.label for t in (*self.models, *self.pipeline, *self.codec) if t.error]

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date,
            "options": self.options,
            "threads": self.threads,
            "machine": self.machine,
            "load_average": {"before": self.load_before, "after": self.load_after},
            **self.info,
            "model_inference": [t.to_dict() for t in self.models],
            "ort_over_torch": speedups(self.models, ORT_LABEL, TORCH_LABEL),
            "pipeline": [t.to_dict() for t in self.pipeline],
            "codec": [t.to_dict() for t in self.codec],
            "codec_info": self.codec_info,
            "report_memory": self.report_memory,
            "image_memory": self.image_memory,
        }

    def markdown(self) -> str:
        ratios = speedups(self.models, ORT_LABEL, TORCH_LABEL)
        ratio_text = ", ".join(f"{r:.2f}x at {shape}" for shape, r in ratios.items())
        options = self.options
        return "\n\n".join(
            [
                f"## aepipe bench, {self.date}",
                self._context(),
                f"### Model inference (warm-up excluded, median of {options['repeats']})",
                model_table(self.models, self.threads),
                f"ONNX Runtime MP/s over torch eager: {ratio_text or MISSING}",
                f"### Pipeline ({options['images']} synthetic {options['size']}x"
                f"{options['size']} PNGs, {self._tiling()}, median of "
                f"{options['repeats']} passes)",
                pipeline_table(self.pipeline),
                "Stage columns: seconds per pass summed over images; fetch and decode, encode "
                "and upload run on 8 I/O threads beside the model, so the stages can add up to "
                "more than s/pass.",
                self._codec_ratios(),
                *self._peer_ratios(),
                *self._codec_section(),
                *self._memory_section(),
                *self._image_memory_section(),
            ]
        )

    def _codec_ratios(self) -> str:
        """Issue 20 item 2: a run keeps up with the codec alone, and with a plain loop."""
        mp_s = {t.label: t.mp_per_s for t in self.pipeline}
        pairs = [(IDENTITY_E2E, CODEC_CAPACITY), ("local e2e", IN_MEMORY)]
        parts = []
        for run, ceiling in pairs:
            value = mp_s.get(run)
            share = None if value is None else rate(value, mp_s.get(ceiling))
            parts.append(f"{run} at {fmt(share)}x the {ceiling} figure")
        return "Codec work on every core: " + "; ".join(parts) + "."

    def _peer_ratios(self) -> list[str]:
        """Issue 20 item 7: aepipe's images/s over each peer's on the same S3 -> S3 job."""
        rates = {t.label: t.images_per_s for t in self.pipeline if t.label in PEER_WAYS}
        ours = rates.get(PEER_WAYS[0])
        if ours is None:
            return []
        parts = [f"{fmt(rate(ours, rates.get(peer)))}x {peer}" for peer in PEER_WAYS[1:]]
        return [f"{PEER_WAYS[0]} over its peers (images/s, same job): " + ", ".join(parts) + "."]

    def _memory_section(self) -> list[str]:
        if not self.report_memory:
            return []
        headers = ["keys", "imports MB", "planning MB", "merge MB", "planning s", "merge s"]
        headers.append("report files MB")
        rows = [
            [
                f"{m['keys']:,}",
                fmt(m["imports_mb"], 1),
                fmt(m["planning_mb"], 1),
                fmt(m["merge_mb"], 1),
                fmt(m["planning_s"], 2),
                fmt(m["merge_s"], 1),
                fmt(m["report_mb"], 1),
            ]
            for m in self.report_memory
        ]
        return [
            f"### Planning and report merge: peak RSS (chunks of {self.report_memory[0]['chunk']})",
            markdown_table(headers, rows),
            "Each size in a fresh process; peaks are cumulative (planning, then the merge into "
            "rows.jsonl/csv/parquet, summary.json and report.html from the run's parts).",
        ]

    def _tiling(self) -> str:
        tile, overlap, batch = self.info["tile"], self.info["overlap"], self.options["batch_size"]
        tiles = f"tile {tile} + overlap {overlap}, batch {batch}"
        if self.options.get("tile") is None:  # as a run plans it (tasks/tiled.call_plan)
            return (
                f"whole images up to {WHOLE_IMAGE_FACTOR} x {tile}² x {batch} pixels, else {tiles}"
            )
        return tiles

    def _image_memory_section(self) -> list[str]:
        if not self.image_memory:
            return []
        first = self.image_memory[0]
        headers = ["task", "loaded MB", "peak MB", "peak / image", "s"]
        rows = [
            [
                m["task"],
                fmt(m["loaded_mb"], 0),
                fmt(m["peak_mb"], 0),
                fmt((m["peak_mb"] - m["loaded_mb"]) / m["image_mb"], 1),
                fmt(m["seconds"], 1),
            ]
            for m in self.image_memory
        ]
        return [
            f"### One large image: peak RSS ({first['side']}x{first['side']} RGB, "
            f"{first['image_mb']:.0f} MB decoded)",
            markdown_table(headers, rows),
            "Each task in a fresh process: the image fetched, decoded, run, encoded and "
            "written as in a chunk. 'peak / image': the growth over the loaded process, in "
            "decoded images.",
        ]

    def _codec_section(self) -> list[str]:
        if not self.codec:
            return []
        options, info = self.options, self.codec_info
        synthetic = info.get("synthetic_throughput") or {}
        heading = (
            f"### Learned codec ({options['images']} synthetic {options['size']}x"
            f"{options['size']} PNGs decoded once, median of {options['repeats']})"
        )
        if "codec" not in info:  # the measurement failed before it knew its codec
            return [heading, codec_table(self.codec)]
        return [
            heading,
            f"- codec: {info['codec']} (decoder sha256 {info['codec_fingerprint']}), rate "
            f"{info['rate']} of 0..{info['rates'] - 1} (λ {info['lambda']:g}), "
            f"{info['bits_per_pixel']:.3f} bpp on these images, providers "
            f"{info['codec_providers']}; entropy coding (constriction rANS) runs on one thread",
            codec_table(self.codec),
            entropy_line(info),
            f"Synthetic cross-check (codec.entropy.throughput(), "
            f"{synthetic.get('symbols', 0) / 1e6:.1f} M Laplacian symbols, "
            f"{fmt(synthetic.get('bits_per_symbol'))} bits/symbol): "
            f"{fmt(synthetic.get('encode_mb_s'), 1)} MB/s encode, "
            f"{fmt(synthetic.get('decode_mb_s'), 1)} MB/s decode; the latents above: "
            f"{fmt(info.get('entropy_bits_per_symbol'))} bits/symbol, "
            f"{info.get('escaped_symbols', 0)} escaped of {info['latent_symbols']}.",
        ]

    def _context(self) -> str:
        m, info = self.machine, self.info
        torch_version = m["torch"] or "not installed"
        busy = rate(self.load_before[0], m["usable_cpus"]) if self.load_before else None
        lines = [
            f"- machine: {m['cpu']}, {m['usable_cpus']} usable CPUs ({m['logical_cpus']} "
            f"logical), {m['platform']}",
            f"- load average (1/5/15 min) before {self.load_before}, after {self.load_after}"
            + (" (other processes were using the CPU)" if busy and busy > 0.5 else ""),
            f"- software: Python {m['python']}, numpy {m['numpy']}, onnxruntime "
            f"{m['onnxruntime']}, torch {torch_version}",
            f"- model: {info['model']} (sha256 {info['model_sha256'][:12]}); threads for ONNX "
            f"Runtime, torch and the pipeline: {self.threads}",
            f"- providers used: model bench {info['model_providers']}, pipeline "
            f"{info['pipeline_providers']}",
            f"- torch weights: {info['torch_weights']}",
        ]
        return "\n".join(lines)

"""One definition of a run: the CLI's flags and the flow's parameters are RunOptions' fields."""

import dataclasses
import inspect
import subprocess
import sys

import pytest

from aepipe.cli import build_parser
from aepipe.errors import AepipeError
from aepipe.runtime.flow import process_images
from aepipe.runtime.options import RunOptions
from aepipe.runtime.pipeline.keys import input_keys, shard_index
from aepipe.runtime.tasks.names import TaskName
from aepipe.storage import open_storage

FIELDS = {f.name: f for f in dataclasses.fields(RunOptions)}


def run_parser_actions():
    commands = next(a for a in build_parser()._actions if a.dest == "command")
    return {a.dest: a for a in commands.choices["run"]._actions if a.dest != "help"}


def test_flow_parameters_are_the_run_options_with_their_defaults_and_docs():
    parameters = inspect.signature(process_images.fn).parameters
    assert list(parameters)[:3] == ["source", "dest", "task"]
    assert set(parameters) == set(FIELDS)
    for name, parameter in parameters.items():
        default = FIELDS[name].default
        assert parameter.default == (
            inspect.Parameter.empty if default is dataclasses.MISSING else default
        )
        assert f"    {name}: {FIELDS[name].metadata['help']}" in process_images.fn.__doc__


def test_cli_run_flags_are_the_run_options():
    actions = run_parser_actions()
    assert set(actions) == set(FIELDS)
    assert actions["task"].required and actions["source"].option_strings == []
    assert actions["anchors"].option_strings == ["--anchors", "--no-anchors"]
    assert actions["overwrite"].option_strings == ["--overwrite"]


def test_cli_arguments_build_the_same_options_as_keywords():
    args = build_parser().parse_args(
        ["run", "in", "out", "--task", "denoise", "--noise-level", "20", "--shard", "1/3"]
    )
    options = RunOptions(**{k: v for k, v in vars(args).items() if k in FIELDS})
    assert options == RunOptions(
        source="in", dest="out", task=TaskName.DENOISE, noise_level=20.0, shard="1/3"
    )


@pytest.mark.parametrize(
    "bad",
    [{"batch_size": 0}, {"chunk_size": 0}, {"jpeg_quality": 101}, {"shard": "3/3"}, {"shard": "x"}],
)
def test_impossible_values_are_refused_with_the_option_named(bad):
    name = next(iter(bad))
    with pytest.raises(AepipeError, match=name):
        RunOptions(source="a", dest="b", task="identity", **bad)


def test_shards_are_disjoint_and_cover_every_key(tmp_path):
    for i in range(60):
        (tmp_path / f"k{i:02d}.png").write_bytes(b"x")
    source = open_storage(str(tmp_path))

    def keys(shard=None):
        options = RunOptions(source=str(tmp_path), dest="out", task="identity", shard=shard)
        return list(input_keys(source, options))

    shards = [keys(f"{i}/3") for i in range(3)]
    assert sorted(k for shard in shards for k in shard) == keys()
    assert all(len(shard) > 5 for shard in shards), [len(s) for s in shards]
    assert shard_index("été 2024/plage.jpg", 7) == shard_index("été 2024/plage.jpg", 7)


def test_every_command_formats_its_help():
    """What --help prints: a '%' in an option's help once made `aepipe train --help` a traceback."""
    commands = next(a for a in build_parser()._actions if a.dest == "command")
    for name, parser in commands.choices.items():
        assert f"aepipe {name}" in parser.format_help()


def test_the_command_line_is_built_without_the_measuring_code() -> None:
    """Every CLI call builds every sub-command's flags: ``eval``'s come from ``EvalConfig``
    alone, not from the evaluation and bench code (0.17 s of each call when they did)."""
    allowed = {"aepipe.tools", "aepipe.tools.evaluation", "aepipe.tools.evaluation.protocol"}
    allowed |= {"aepipe.tools.bench", "aepipe.tools.bench.options", "aepipe.tools.bench.timing"}
    code = (
        "import sys\nfrom aepipe.cli import build_parser\nbuild_parser()\n"
        "print(*(m for m in sys.modules if m.startswith('aepipe.tools')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert set(done.stdout.split()) <= allowed, done.stdout + done.stderr

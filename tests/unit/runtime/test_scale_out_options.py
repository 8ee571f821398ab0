"""The scale-out options: ``--runner`` (where chunk tasks run) and ``--fan-out`` (shard runs)."""

from __future__ import annotations

import dataclasses

import pytest

from aepipe.errors import AepipeError
from aepipe.runtime.fanout import FanOutError, child_parameters, deployment_name
from aepipe.runtime.options import RunOptions
from aepipe.runtime.pipeline.runners import chunk_runner


def options(**given: object) -> RunOptions:
    return RunOptions(source="in", dest="out", task="identity", **given)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("runner", "parsed"),
    [
        ("threads", ("threads", None)),
        ("dask", ("dask", None)),
        ("dask=3", ("dask", 3)),
        ("dask=tcp://127.0.0.1:8786", ("dask", "tcp://127.0.0.1:8786")),
    ],
)
def test_runner_specs(runner: str, parsed: tuple[str, object]) -> None:
    assert options(runner=runner).runner_of() == parsed


@pytest.mark.parametrize("runner", ["dask=0", "dask=two", "thread", "threads=2", "ray", ""])
def test_unknown_runners_are_refused_before_any_work(runner: str) -> None:
    with pytest.raises(AepipeError, match="--runner"):
        options(runner=runner)


def test_threads_stay_in_process_and_a_local_dask_cluster_listens_on_loopback() -> None:
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    assert isinstance(chunk_runner(options()), ThreadPoolTaskRunner)
    local = chunk_runner(options(runner="dask=2"))
    assert isinstance(local, DaskTaskRunner)
    assert local.cluster_kwargs["n_workers"] == 2
    assert local.cluster_kwargs["host"] == "127.0.0.1"
    assert local.cluster_kwargs["dashboard_address"] is None
    remote = chunk_runner(options(runner="dask=tcp://10.0.0.5:8786"))
    assert isinstance(remote, DaskTaskRunner) and remote.address == "tcp://10.0.0.5:8786"


def test_each_child_of_a_fan_out_runs_one_shard_and_fans_out_no_further() -> None:
    parent = options(fan_out=3, deployment="process-images/process", chunk_size=7)
    children = [child_parameters(parent, index) for index in range(3)]
    assert [c["shard"] for c in children] == ["0/3", "1/3", "2/3"]
    for child in children:
        rebuilt = RunOptions(**child)  # valid parameters for the same flow
        assert (rebuilt.fan_out, rebuilt.deployment) == (None, None)
        assert dataclasses.replace(rebuilt, shard=None) == dataclasses.replace(
            parent, fan_out=None, deployment=None
        )


@pytest.mark.parametrize("bad", [{"fan_out": 2, "shard": "0/2"}, {"fan_out": 0}])
def test_impossible_fan_outs_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(AepipeError, match=r"fan.out"):
        options(**bad)


def test_a_fan_out_outside_a_deployment_must_name_one() -> None:
    with pytest.raises(FanOutError, match="--deployment"):
        deployment_name(options(fan_out=2))
    assert deployment_name(options(fan_out=2, deployment="f/d")) == "f/d"

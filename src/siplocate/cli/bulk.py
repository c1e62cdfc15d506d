"""Many inputs per command (``resolve``, ``check``, ``probe``, ``compare``): TARGET...,
``-f FILE`` and ``-`` (standard input) read as a stream and run over one shared Resolver.

Memory is bounded whatever the input's length: a line is read only when the window of inputs
started but not yet printed (``WINDOW`` times ``--concurrency``) has room, at most
``--concurrency`` of them run at once, and a result is dropped once printed. Results are
printed in input order: a slow input holds later results back within that window (the
reorder buffer), never more. Standard input that is not a regular file is read by a daemon
thread, so a slow writer never stalls lookups in flight.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import stat
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Annotated, Any, Protocol

import typer

from ..errors import BadInput, SiplocateError
from ..limits import DOMAINS_IN_FLIGHT, MAX_DOMAINS_IN_FLIGHT
from .common import REPORTED, console, describe, err_console, error_object, unwrapped

# asyncio (which loads ssl) and rich are imported when a run starts: --help stays fast.
if TYPE_CHECKING:
    import asyncio

    from rich.progress import Progress

#: --concurrency's default: inputs worked on at once.
DEFAULT_CONCURRENCY = DOMAINS_IN_FLIGHT
#: Inputs started but not yet printed, per unit of --concurrency (running, or finished and
#: waiting for an earlier one: the reorder buffer).
WINDOW = 4
#: A longer line fails as an input of its own, read past in bounded chunks, never held whole.
MAX_LINE = 4096
#: No end of line within this many bytes: the stream is not a list of names (/dev/zero).
MAX_SKIP = 1 << 20
#: ``#`` at the start of a line or after a blank starts a comment.
_COMMENT = re.compile(r"(?:^|\s)#.*$", re.DOTALL)

FileOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--file",
        "-f",
        metavar="FILE",
        help="Also take the inputs in FILE, one per line ('#' comments and blank lines "
        "skipped; - is standard input; repeatable). Read as a stream: any length.",
    ),
]
ConcurrencyOpt = Annotated[
    int,
    typer.Option(
        "--concurrency",
        metavar="N",
        min=1,
        max=MAX_DOMAINS_IN_FLIGHT,
        help="With several inputs: work on at most N at once (one shared DNS cache).",
    ),
]


@dataclass(frozen=True, slots=True)
class Line:
    """One input: ``text`` as given (blanks and comment stripped), ``where`` it came from,
    and ``problem`` when the line itself is unusable (it then fails without being run)."""

    text: str
    where: str
    problem: str | None = None


def read_lines(stream: IO[bytes], name: str) -> Iterator[Line]:
    """The inputs of a stream, one per line, read one line at a time (MAX_LINE bounds each)."""
    from ..localfile import decode

    number = 0
    while raw := stream.readline(MAX_LINE + 1):
        number += 1
        where = f"{name}:{number}"
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            skipped = len(raw)
            while (rest := stream.readline(1 << 16)) and not rest.endswith(b"\n"):
                skipped += len(rest)
                if skipped > MAX_SKIP:
                    raise BadInput(
                        f"{where}: no end of line within {MAX_SKIP} bytes: not a list of "
                        "names, one per line"
                    )
            shown = raw[:60].decode("utf-8", "replace")
            yield Line(f"{shown}...", where, f"{where}: longer than {MAX_LINE} bytes")
            continue
        try:
            text = decode(raw, name, "input", line=number)
        except BadInput as exc:
            yield Line(raw.decode("utf-8", "replace").strip(), where, str(exc))
            continue
        text = _COMMENT.sub("", text).strip()
        if text:
            yield Line(text, where)


def _is_regular(stream: IO[bytes]) -> bool:
    """Reading ``stream`` never blocks for long (a regular file, not a pipe or a terminal)."""
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):  # no descriptor (a test's in-memory stdin)
        return True


def _usage(message: str) -> Exception:
    """A usage error of the running command (exit 2, kind ``usage``, with its --help hint)."""
    from typer._click.exceptions import UsageError
    from typer._click.globals import get_current_context

    return UsageError(message, ctx=get_current_context(silent=True))


class Source(Protocol):
    """What a run reads its inputs from (``Inputs``, or a generator in a test)."""

    @property
    def blocking(self) -> bool: ...

    def __iter__(self) -> Iterator[Line]: ...


class Inputs:
    """The inputs of one command: arguments in order (``-`` is standard input, where it
    stands), then each ``-f FILE``. Files are opened (and FIFOs or devices refused) before
    anything runs, so an unreadable file is bad usage, exit 2."""

    def __init__(self, args: Sequence[str] | None, files: Sequence[str] | None) -> None:
        args, files = list(args or ()), list(files or ())
        if not args and not files:
            raise _usage("give a TARGET (or several), -f FILE, or - to read standard input")
        if args.count("-") + files.count("-") > 1:
            raise _usage("standard input (-) can be read once")
        #: The one input of a plain single-input call (today's output); None: many-input form.
        self.single = args[0] if len(args) == 1 and args[0] != "-" and not files else None
        self._args = args
        self._streams: dict[str, IO[bytes]] = {}
        try:
            for name in files:
                self._streams[name] = self._open(name)
        except BaseException:
            self.close()
            raise
        if "-" in args:
            self._streams["-"] = self._open("-")

    @staticmethod
    def _open(name: str) -> IO[bytes]:
        if name == "-":
            return sys.stdin.buffer
        from ..localfile import open_regular

        try:
            return open_regular(name, "input file")
        except BadInput as exc:
            raise BadInput(f"{exc} (or - for standard input)") from None

    @property
    def blocking(self) -> bool:
        """Some input may block on read (standard input from a pipe or a terminal)."""
        return any(not _is_regular(s) for s in self._streams.values())

    def __iter__(self) -> Iterator[Line]:
        for i, arg in enumerate(self._args, 1):
            if arg == "-":
                yield from read_lines(self._streams["-"], "<stdin>")
            else:
                yield Line(arg, f"argument {i}")
        for name, stream in self._streams.items():
            if name != "-":
                yield from read_lines(stream, name)

    def close(self) -> None:
        for name, stream in self._streams.items():
            if name != "-":
                stream.close()


_END = object()


class _Threaded:
    """Lines read by a daemon thread and handed to the event loop in order, at most
    ``bound`` ahead: a read that blocks (a terminal, a slow pipe) never stalls the loop,
    and a thread left blocked at exit (Ctrl-C) does not keep the process alive."""

    def __init__(self, lines: Iterator[Line], bound: int) -> None:
        import asyncio

        self._queue: queue.Queue[object] = queue.Queue(bound)
        self._ready = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._read, args=(lines,), daemon=True).start()

    def _read(self, lines: Iterator[Line]) -> None:
        item: object = _END
        try:
            for line in lines:
                self._put(line)
        except BaseException as exc:  # handed to the loop, raised there
            item = exc
        self._put(item)

    def _put(self, item: object) -> None:
        self._queue.put(item)
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody reads any more
            self._loop.call_soon_threadsafe(self._ready.set)

    async def __aiter__(self) -> AsyncIterator[Line]:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                self._ready.clear()
                if self._queue.empty():  # nothing was put between get_nowait and clear
                    await self._ready.wait()
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, Line)
            yield item


async def _lines(inputs: Source, bound: int) -> AsyncIterator[Line]:
    if inputs.blocking:
        async for line in _Threaded(iter(inputs), bound):
            yield line
    else:
        for line in inputs:
            yield line


@dataclass
class Outcome:
    """What one input gave: its usual JSON (``data``), its --short lines, how to show it to
    people, and ``failure`` when it counts as failed although it has output (e.g. no target
    of a probe answered)."""

    data: dict[str, Any]
    short: Sequence[str] = ()
    show: Callable[[], None] | None = None
    failure: SiplocateError | None = None


Work = Callable[[str], Awaitable[Outcome]]


def _monotonic() -> float:
    """The one clock's monotonic time (imported here: the clock loads asyncio, which --help
    never needs)."""
    from ..clock import SYSTEM_CLOCK

    return SYSTEM_CLOCK.monotonic()


@dataclass
class Tally:
    done: int = 0
    failed: int = 0
    started: float = field(default_factory=_monotonic)

    def line(self) -> str:
        """The summary on stderr: ``;; 2000 inputs: 1998 done, 2 failed in 3.4 s``."""
        total = self.done + self.failed
        took = _monotonic() - self.started
        return f";; {total} inputs: {self.done} done, {self.failed} failed in {took:.1f} s"


class _Printer:
    """Each finished input on stdout as it is its turn: an NDJSON line (--json), the
    --short lines prefixed with the input, or ``==> INPUT <==`` and its usual output (as
    ``head`` and ``tail`` head each file); a failure also gets one line on stderr."""

    def __init__(self, form: str, tally: Tally, progress: Progress | None) -> None:
        self.form = form
        self.tally = tally
        self.progress = progress
        self._task = progress.add_task("", total=None, failed=0) if progress else None

    def ok(self, line: Line, outcome: Outcome) -> None:
        if outcome.failure is not None:
            self.failed(line, outcome.failure, outcome)
            return
        self.tally.done += 1
        self._emit(line, outcome)
        self._tick()

    def failed(self, line: Line, exc: BaseException, outcome: Outcome | None = None) -> None:
        self.tally.failed += 1
        message, code, kind = describe(exc)
        if outcome is None:
            extra = getattr(exc, "json_extra", None)
            outcome = Outcome(extra if isinstance(extra, dict) else {})
        if self.form == "json":
            _write({"input": line.text, **outcome.data, **error_object(message, code, kind)})
        else:
            self._emit(line, outcome)
        err_console.print(f"siplocate: error: {_shown(line.text)}: {message}")
        self._tick()

    def _emit(self, line: Line, outcome: Outcome) -> None:
        if self.form == "json":
            _write({"input": line.text, **outcome.data})
        elif self.form == "short":
            for text in outcome.short:
                console.print(f"{_shown(line.text)} {text}")
        else:
            if self.tally.done + self.tally.failed > 1:
                console.print()
            console.print(f"==> {_shown(line.text)} <==")
            if outcome.show is not None:
                outcome.show()

    def _tick(self) -> None:
        if self.progress is not None and self._task is not None:
            self.progress.update(
                self._task, completed=self.tally.done + self.tally.failed, failed=self.tally.failed
            )


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _shown(text: str) -> str:
    """An input as printed for people: control characters (an escape sequence in a file)
    written as ``\\xNN``, never sent to the terminal (JSON escapes them itself)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _write(data: dict[str, Any]) -> None:
    """One NDJSON line, flushed: a reader at the other end of a pipe gets it now."""
    sys.stdout.write(json.dumps(data, default=str) + "\n")
    sys.stdout.flush()


def _progress() -> Progress | None:
    """A progress line on stderr when it is a terminal and stdout is not (cleared at the
    end): results on the same screen are their own progress, and rich's consoles would
    draw them through the bar."""
    if not err_console.is_terminal or sys.stdout.isatty():
        return None
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.completed} done, {task.fields[failed]} failed"),
        BarColumn(),
        TaskProgressColumn(show_speed=True),
        TimeElapsedColumn(),
        console=unwrapped(err_console),
        transient=True,
        redirect_stdout=False,
    )


async def run_many(
    inputs: Source,
    work: Work,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    form: str = "text",
    progress: Progress | None = None,
    tally: Tally | None = None,
) -> Tally:
    """Run ``work`` on every input, at most ``concurrency`` at once, and print each result
    in input order (``form``: json, short or text) as soon as those before it are printed."""
    import asyncio

    tally = tally or Tally()
    printer = _Printer(form, tally, progress)
    gate = asyncio.Semaphore(concurrency)
    window: asyncio.Queue[tuple[Line, asyncio.Future[Outcome]] | None] = asyncio.Queue(
        WINDOW * concurrency
    )

    async def guarded(text: str) -> Outcome:
        async with gate:
            return await work(text)

    async def feed() -> None:
        try:
            async for line in _lines(inputs, WINDOW * concurrency):
                if line.problem is not None:
                    job: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
                    job.set_exception(BadInput(line.problem))
                else:
                    job = asyncio.ensure_future(guarded(line.text))
                await window.put((line, job))
        finally:
            await window.put(None)

    feeding = asyncio.ensure_future(feed())
    try:
        while (item := await window.get()) is not None:
            line, job = item
            try:
                outcome = await job
            except REPORTED as exc:
                printer.failed(line, exc)
            else:
                printer.ok(line, outcome)
        await feeding  # a read error is raised here
    finally:
        feeding.cancel()
        while not window.empty():
            if (left := window.get_nowait()) is not None:
                _drop(left[1])
    return tally


def _drop(job: asyncio.Future[Outcome]) -> None:
    """An input that will not be printed (the run stopped): cancelled, its error consumed."""
    if job.done() and not job.cancelled():
        job.exception()
    job.cancel()


def run_all(
    inputs: Inputs,
    work: Work,
    *,
    concurrency: int,
    form: str,
    cleanup: Callable[[], None] | None = None,
) -> None:
    """A many-input command from start to end: ``work`` on each input, then ``cleanup``
    inside the event loop (the shared Resolver's sockets close with it); the summary goes to
    stderr; exit 1 when any input failed. An error that stops the run itself (reading
    standard input failed) is one line (one NDJSON line under --json) after the results
    printed so far."""
    from .common import run

    progress = _progress()
    tally = Tally()

    async def main() -> None:
        try:
            await run_many(
                inputs, work, concurrency=concurrency, form=form, progress=progress, tally=tally
            )
        finally:
            if cleanup is not None:
                cleanup()

    code = 0
    try:
        if progress is not None:
            progress.start()
        run(main())
    except REPORTED as exc:
        message, code, kind = describe(exc)
        if form == "json":
            _write(error_object(message, code, kind))
        err_console.print(f"siplocate: error: {message}")
    finally:
        if progress is not None:
            progress.stop()
        inputs.close()
        sys.stdout.flush()
    err_console.print(tally.line())
    if code or tally.failed:
        raise typer.Exit(code or 1)

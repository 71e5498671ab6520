"""The `sim` command: a thin layer over the Python API (sim.run, sim.load_scenario)."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import textwrap
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.exceptions import TyperException

from sim.errors import (
    INTERRUPTED,
    Interrupted,
    UserError,
    check_interrupted,
    one_line,
    report_stage,
    signals_handled,
)
from sim.scenario.loader import DEFAULT_SCENARIO, bundled_scenarios, load_scenario, normalize_overrides
from sim.scenario.schema import Scenario

# Only what reads files is imported here (typer, rich, pydantic, yaml): `sim --help`, `list`, `validate`,
# `show` and `schema` start in a fraction of a second. Each command imports the engine, pandas, Dask
# and matplotlib itself, when it runs; tests/test_startup.py checks that the others never load them.

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help=(
        "Crisis-escalation simulator: run, compare, calibrate and forecast crisis scenarios "
        "(the 2021 Kosovo licence-plate crisis and a library of other episodes are bundled)."
    ),
)
# Piped output gets room for the tables (rich assumes 80 columns without a terminal).
# Neither reads markup or emoji codes: names and paths are printed exactly as given ("[/z]", ":x:").
out = Console(width=None if sys.stdout.isatty() else 160, markup=False, emoji=False, highlight=False)
err = Console(stderr=True, markup=False, emoji=False, highlight=False)

PROGRESS_WORK = 30_000  # replicate-days above which a progress bar is worth showing
DEFAULT_RUNS = 1000  # enough for outcome shares with intervals of about +-1.5 points


class Fmt(StrEnum):
    png = "png"
    svg = "svg"
    pdf = "pdf"


class DataFmt(StrEnum):
    auto = "auto"
    csv = "csv"
    parquet = "parquet"


class EventsMode(StrEnum):
    all = "all"
    sample = "sample"
    none = "none"


class EventFmt(StrEnum):
    auto = "auto"
    chronology = "chronology"
    gdelt = "gdelt"


class Engine(StrEnum):
    fast = "fast"
    reference = "reference"


ScenarioArg = Annotated[
    str,
    typer.Argument(help="Scenario file, or the name of a bundled scenario.", show_default=True),
]


def default_run_dir(name: str) -> Path:
    """The run folder a command writes without --out (sim.results.result imports pandas: on use)."""
    from sim.results.result import default_run_dir as run_dir

    return run_dir(name)


def _client(scheduler: str | None, workers: int):
    """A Dask client for --scheduler (None without it); a bad address is a user error."""
    if not scheduler:
        return None
    from sim.ensemble.executors import connect

    try:
        return connect(scheduler, workers if workers > 1 else None)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UserError(f"cannot reach the Dask scheduler: {one_line(exc)}", field="--scheduler") from None


def _check_out(out_dir: Path | None) -> None:
    """An --out that cannot be written is refused before any work, not after it."""
    if out_dir is not None:
        from sim.results.files import check_out

        check_out(out_dir)


def _close(client, scheduler: str | None) -> None:
    from sim.ensemble.executors import disconnect

    disconnect(client)


WorkersOpt = Annotated[int, typer.Option(help="Local worker processes for batches of runs.")]
SchedulerOpt = Annotated[
    str | None, typer.Option(help="Dask scheduler address (tcp://host:8786), or 'local' for a LocalCluster.")
]


@app.command()
def run(
    scenario: ScenarioArg = DEFAULT_SCENARIO,
    runs: Annotated[
        int | None,
        typer.Option("--runs", "-n", help=f"Number of replicates (0..N-1) [default: {DEFAULT_RUNS}]."),
    ] = None,
    replicate: Annotated[int | None, typer.Option(help="Run replicate K alone (instead of --runs).")] = None,
    days: Annotated[int | None, typer.Option(help="Days to simulate.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the random streams.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a scenario value, e.g. actors.russia.resolve=0.9 (repeatable)."),
    ] = None,
    out_dir: Annotated[
        str | None,
        typer.Option("--out", help="Run folder to write (default: runs/<scenario>-<time>-<process id>)."),
    ] = None,
    fmt: Annotated[Fmt, typer.Option("--format", help="Figure format.")] = Fmt.png,
    data: Annotated[
        DataFmt,
        typer.Option(
            "--format-data", help="Table format: csv, parquet, or auto (Parquet above 200,000 rows)."
        ),
    ] = DataFmt.auto,
    events: Annotated[
        EventsMode,
        typer.Option("--events", help="Keep the event log of all runs, a seeded sample of ~100, or none."),
    ] = EventsMode.all,
    engine: Annotated[
        Engine, typer.Option(help="fast (compiled) or reference (plain Python).")
    ] = Engine.fast,
    workers: Annotated[int, typer.Option(help="Local worker processes for blocks of replicates.")] = 1,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler address (tcp://host:8786), or 'local' to start a LocalCluster."),
    ] = None,
    posterior: Annotated[
        Path | None,
        typer.Option(
            help="posterior.csv from `sim calibrate`: each replicate draws its parameters from it "
            "(default: the scenario's own posterior, if it names one)."
        ),
    ] = None,
    point_values: Annotated[
        bool,
        typer.Option(
            "--point-values",
            help="Run the scenario's point values (its posterior medians) for every replicate instead of "
            "drawing them from its posterior.",
        ),
    ] = False,
) -> None:
    """Run a scenario's ensemble and write tables, figures and a manifest."""
    if point_values and posterior is not None:
        raise UserError("give either --posterior FILE or --point-values, not both", field="--point-values")
    from sim.plots.worker import figure_worker

    # the figures are drawn in a worker process of their own, which imports matplotlib now, while this
    # one imports the engine, and draws each figure as soon as its data are in (sim/plots/worker.py)
    with figure_worker((fmt.value,)) as painter:
        from sim.model.lean_numba import load_numba_without_scipy

        load_numba_without_scipy()  # this process compiles nothing but the engine
        from sim.ensemble.executors import check_size, cpu_count, usable_workers
        from sim.results.files import check_out
        from sim.runner import run as run_api

        loaded = load_scenario(scenario, set_ or None)
        n_days = days if days is not None else loaded.days
        if runs is not None and replicate is not None:
            raise UserError("expected --runs N or --replicate K, not both", field="--replicate")
        if replicate is not None and not 0 <= replicate < 2**63:
            raise UserError(
                f"expected a replicate index from 0 to 2**63-1, found {replicate}", field="--replicate"
            )
        runs = DEFAULT_RUNS if runs is None else runs
        total = runs if replicate is None else 1
        # everything that can be refused is refused before the simulation: the folder, the size, the workers
        if out_dir is not None:
            check_out(out_dir)
        if workers > 1 and scheduler is None:
            usable = usable_workers(workers, total, n_days)
            if usable < workers:
                err.print(
                    f"sim: note: {usable} worker process{'es' if usable > 1 else ''}, not {workers}: no more "
                    f"than this machine's {cpu_count()} CPUs, nor than the blocks of runs there are to share",
                    soft_wrap=True,
                )
                workers = usable
        if total >= 1 and n_days >= 1:
            check_size(len(loaded.actors), total, n_days, events.value, max(1, workers))
        progress = None
        bar = None
        if total * max(n_days, 1) >= PROGRESS_WORK and err.is_terminal:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            bar = Progress(
                TextColumn("simulating {task.fields[n]} runs"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeRemainingColumn(),
                console=err,
                transient=True,
            )
            task = bar.add_task("run", total=n_days, n=total)
            bar.start()

            def progress(done: int, steps: int) -> None:  # days, or blocks when distributed
                bar.update(task, completed=done, total=steps)

        client = None
        try:
            client = _client(scheduler, workers)
            report_stage("running")
            result = run_api(
                loaded,
                runs=runs,
                replicate=replicate,
                days=days,
                seed=seed,
                progress=progress,
                engine=engine.value,
                workers=workers,
                client=client,
                events=events.value,
                posterior=False if point_values else posterior,
                # a table bound for Parquet is written as the blocks finish, not spilled and encoded later
                spill_format="parquet" if _parquet_out(data.value, total, n_days) else "arrow",
                bands_ready=_dyads_to(painter),
            )
        finally:
            if bar is not None:
                bar.stop()
            _close(client, scheduler)
        result.overrides = normalize_overrides(set_)
        result.command = ["sim", *sys.argv[1:]]
        check_interrupted()
        report_stage("saving")
        try:
            folder = result.save(
                out_dir or default_run_dir(loaded.name),
                formats=(fmt.value,),
                data=data.value,
                painter=painter,
            )
        finally:
            result.close()  # the spilled table, if any, goes now
        for line in result.summary().lines():
            out.print(line, soft_wrap=True)  # a note on a skipped scripted move is one line, however long
        out.print(f"  files        {folder}/")


def _dyads_to(painter):
    """The hook that hands the dyads' bands to the figure worker as soon as they are made."""
    if painter is None:
        return None
    from sim.plots.plotdata import dyads_plot

    return lambda ensemble: painter.submit("dyads", dyads_plot(ensemble))


def _parquet_out(data: str, runs: int, days: int) -> bool:
    """Whether `sim run` writes its tables as Parquet (as Result.data_format decides)."""
    from sim.results.result import AUTO_PARQUET_ROWS

    return data == "parquet" or (data == "auto" and runs * days > AUTO_PARQUET_ROWS)


@app.command()
def compare(
    scenarios: Annotated[list[str], typer.Argument(help="Two or more scenarios; the first is the baseline.")],
    runs: Annotated[int, typer.Option("--runs", "-n", help="Replicates per scenario.")] = 1000,
    days: Annotated[
        int | None, typer.Option(help="Days to simulate (default: the first scenario's).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed shared by all scenarios.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder to write.")] = None,
) -> None:
    """Compare what-ifs on common random numbers: each metric's difference to the first, with 95% CI."""
    from sim.analysis.compare import compare as compare_api

    _check_out(out_dir)
    result = compare_api(scenarios, runs=runs, days=days, seed=seed, events="none")
    table = Table(title=f"Difference to {result.names[0]} ({runs:,} runs each, 95% paired bootstrap CI)")
    for col in ("metric", *result.names[1:]):
        table.add_column(col)
    base = result.table[result.table["scenario"] == result.names[0]].set_index("metric")
    for metric, row in base.iterrows():
        cells = []
        for name in result.names[1:]:
            r = result.table[(result.table["scenario"] == name) & (result.table["metric"] == metric)].iloc[0]
            mark = " *" if r["excludes_zero"] else ""
            cells.append(f"{r['difference']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]{mark}")
        table.add_row(f"{row['label']} (base {row['value']:.3f})", *cells)
    out.print(table)
    out.print("* the interval excludes zero", highlight=False)
    folder = result.save(out_dir or default_run_dir("compare-" + "-vs-".join(result.names[:2])))
    out.print(f"files: {folder}/", highlight=False)


@app.command()
def explain(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `sim run`.")],
    run: Annotated[
        int | None, typer.Option("--run", help="Which run (replicate) to explain (default: the first).")
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Actor id (default: the most hostile that day).")] = None,
    day: Annotated[int | None, typer.Option(help="Day (default: the run's peak day).")] = None,
    runs: Annotated[int, typer.Option(help="Runs averaged in drivers.png (with --all-runs).")] = 100,
    all_runs: Annotated[bool, typer.Option("--all-runs", help="drivers.png over many runs.")] = False,
) -> None:
    """Why did it escalate: one choice's utility terms, and who drove each dyad's tension (drivers.png)."""
    import matplotlib.pyplot as plt

    from sim.analysis import explain as ex
    from sim.analysis.runfolder import write_files
    from sim.model.spec import compile_spec
    from sim.plots import figures as plots
    from sim.results.files import save_figure

    if all_runs and runs < 1:
        raise UserError(f"expected a whole number of runs of at least 1, found {runs}", field="--runs")
    result = ex.explain(run_dir, run=run, actor=actor, day=day)
    for line in result.lines():
        out.print(line, highlight=False, soft_wrap=True)
    scenario, parts = ex.drivers(run_dir, run=None if all_runs else result.run, runs=runs)
    spec = compile_spec(scenario)
    what = f"mean of the first {runs} runs" if all_runs else f"run {result.run}"
    fig = plots.drivers_figure(scenario, parts, spec.names, spec.pairs(), spec.salience[0], what)
    try:
        (target,) = write_files(run_dir, {"drivers.png": lambda p: save_figure(fig, p, format="png")})
    finally:
        plt.close(fig)
    out.print(f"drivers: {target}", highlight=False)


@app.command()
def sensitivity(
    scenario: ScenarioArg = DEFAULT_SCENARIO,
    method: Annotated[str, typer.Option(help="sobol (S1, ST) or morris (mu*, sigma).")] = "sobol",
    samples: Annotated[int, typer.Option(help="Base samples (Sobol' N, or Morris trajectories).")] = 64,
    runs: Annotated[int, typer.Option("--runs", "-n", help="Replicates per parameter point.")] = 100,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", help="Vary only this calibratable parameter (repeatable), PATH or PATH=LOW:HIGH."
        ),
    ] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a scenario value.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder to write.")] = None,
    workers: WorkersOpt = 1,
    scheduler: SchedulerOpt = None,
) -> None:
    """Global sensitivity of P(clash), peak tension and days to resolution to the calibratable parameters."""
    from sim.analysis import sensitivity as sa

    _check_out(out_dir)
    loaded = load_scenario(scenario, set_ or None)
    ranges = _param_ranges(param, sa.calibratable(loaded))
    # sizes and ranges checked before any work (or a cluster) starts
    ranges = sa.check_design(
        loaded, method=method, samples=samples, runs=runs, parameters=ranges, workers=workers
    )
    client = _client(scheduler, workers)
    try:
        result = sa.analyse(
            loaded,
            method=method,
            samples=samples,
            runs=runs,
            parameters=ranges,
            workers=workers,
            client=client,
        )
    finally:
        _close(client, scheduler)
    key = "ST" if method == "sobol" else "mu_star"
    for output in sa.OUTPUTS:
        part = result.table[result.table["output"] == output].sort_values(key, ascending=False).head(5)
        ranked = ", ".join(
            f"{p.removeprefix('mechanisms.')} {v:.2f}"
            for p, v in zip(part["parameter"], part[key], strict=True)
        )
        out.print(f"{sa.LABELS[output]}: {ranked}", highlight=False)
    folder = result.save(out_dir or default_run_dir(f"sensitivity-{loaded.name}"))
    out.print(f"files: {folder}/", highlight=False)


@app.command()
def sweep(
    scenario: ScenarioArg = DEFAULT_SCENARIO,
    vary: Annotated[
        list[str] | None,
        typer.Option(
            "--vary", help="PATH=LOW:HIGH:STEPS, once or twice, e.g. mechanisms.mediation.weight=0.5:4:8."
        ),
    ] = None,
    runs: Annotated[int, typer.Option("--runs", "-n", help="Replicates per grid point.")] = 200,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a scenario value.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder to write.")] = None,
    workers: WorkersOpt = 1,
    scheduler: SchedulerOpt = None,
) -> None:
    """Outcome metrics over a grid of one or two parameters, with 95% intervals (sweep.csv, sweep.png)."""
    from sim.analysis import sweep as sw

    _check_out(out_dir)
    loaded = load_scenario(scenario, set_ or None)
    grid = sw.parse_grid(vary or [], loaded, runs=runs, workers=workers)  # checked before any work
    client = _client(scheduler, workers)
    try:
        result = sw.sweep(loaded, grid, runs=runs, workers=workers, client=client)
    finally:
        _close(client, scheduler)
    out.print(
        result.table.pivot_table(index=result.names, columns="metric", values="estimate").to_string(),
        highlight=False,
    )
    if result.note():
        out.print(result.note(), highlight=False, soft_wrap=True)
    folder = result.save(out_dir or default_run_dir(f"sweep-{loaded.name}"))
    out.print(f"files: {folder}/", highlight=False)


@app.command()
def discover(
    scenario: ScenarioArg = DEFAULT_SCENARIO,
    outcome: Annotated[str, typer.Option(help="The outcome to explain: clash, resolved or tense.")] = "clash",
    samples: Annotated[int, typer.Option(help="Parameter points (Latin hypercube), at least 50.")] = 200,
    runs: Annotated[int, typer.Option("--runs", "-n", help="Replicates per parameter point.")] = 20,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", help="Vary only this calibratable parameter (repeatable), PATH or PATH=LOW:HIGH."
        ),
    ] = None,
    min_coverage: Annotated[
        float, typer.Option(help="The least share of the outcome's remaining cases a box must hold.")
    ] = 0.5,
    boxes: Annotated[int, typer.Option("--boxes", help="Boxes to look for at most.")] = 3,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a scenario value.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder to write.")] = None,
    workers: WorkersOpt = 1,
    scheduler: SchedulerOpt = None,
) -> None:
    """Scenario discovery: the parameter regions (PRIM boxes) where an outcome is likely (discovery.csv)."""
    from sim.analysis import discover as disc

    disc.check_outcome(outcome)
    _check_out(out_dir)
    loaded = load_scenario(scenario, set_ or None)
    ranges = _param_ranges(param, disc.calibratable(loaded))
    ranges = disc.check_design(
        loaded,
        outcome=outcome,
        samples=samples,
        runs=runs,
        parameters=ranges,
        min_coverage=min_coverage,
        max_boxes=boxes,
        workers=workers,
    )  # sizes and ranges checked before any work (or a cluster) starts
    client = _client(scheduler, workers)
    try:
        result = disc.discover(
            loaded,
            outcome=outcome,
            samples=samples,
            runs=runs,
            parameters=ranges,
            min_coverage=min_coverage,
            max_boxes=boxes,
            workers=workers,
            client=client,
        )
    finally:
        _close(client, scheduler)
    for line in result.lines():
        out.print(line, highlight=False, soft_wrap=True)
    folder = result.save(out_dir or default_run_dir(f"discover-{loaded.name}"))
    out.print(f"files: {folder}/discovery.csv, points.csv", highlight=False)


def _param_ranges(param: list[str] | None, ranges: dict[str, tuple[float, float]]):
    """--param PATH or PATH=LOW:HIGH options as {path: (low, high)}; all `ranges` without any."""
    if not param:
        return ranges
    chosen = {}
    for text in param:
        path, _, bounds = text.partition("=")
        if not bounds and path not in ranges:
            raise UserError(
                f"not a calibratable parameter; expected one of: {', '.join(ranges)}", field=f"--param {path}"
            )
        try:
            low, high = (float(v) for v in bounds.split(":")) if bounds else ranges[path]
        except ValueError:
            raise UserError(f"expected PATH=LOW:HIGH, found '{text}'", field="--param") from None
        chosen[path] = (low, high)
    return chosen


@app.command(name="compare-events")
def compare_events(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `sim run`.")],
    data: Annotated[
        Path,
        typer.Argument(
            help="CAMEO-coded events: a chronology CSV, a run's events.csv, or a GDELT 2.0 export."
        ),
    ],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for the outputs (default: the run's).")
    ] = None,
    data_format: Annotated[
        EventFmt,
        typer.Option(
            help="chronology (CSV with actor, cameo, goldstein, date or day; also a run's event log), "
            "gdelt (GDELT 2.0 event export: 61 tab-separated columns, no header), or auto: "
            "gdelt for names ending in .export.CSV."
        ),
    ] = EventFmt.auto,
    data_run: Annotated[
        int | None, typer.Option(help="The run to take when DATA is the event log of several runs.")
    ] = None,
) -> None:
    """Simulated events against real event data: counts, daily Goldstein band, CRPS and band coverage."""
    from sim.analysis.eventdata import compare_events as compare_api

    result = compare_api(run_dir, data, data_format=data_format.value, data_run=data_run)
    folder = out_dir or Path(run_dir)
    result.save(folder)  # both files or neither, before anything is printed as done
    for line in result.lines():
        out.print(line, highlight=False, soft_wrap=True)
    out.print(f"files: {folder}/events_vs_data.csv, events_vs_data.png", highlight=False)


# the calibration's choices, shared by `calibrate` and `backtest` (whose training fits take them too)
FixOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--fix",
        help="Hold a free parameter at a value instead of fitting it, e.g. "
        "mechanisms.activity.crisis=0 (repeatable; written into posterior.csv as a constant).",
    ),
]
ToleranceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--tolerance",
        help="One unit of misfit for a kind of summary instead of the default, e.g. calm=0.01 "
        "(repeatable; kinds and defaults: docs/model.md 8.1).",
    ),
]
FreeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--free",
        help="Fit a mechanism parameter the calibration otherwise holds, over a uniform prior, e.g. "
        "mechanisms.bargaining.hurt_scale=2:30 (repeatable).",
    ),
]


@app.command()
def calibrate(
    scenarios: Annotated[
        list[str] | None,
        typer.Argument(
            help="Scenario file(s) or bundled name(s) with a `record:`; several: one calibration of the "
            f"shared parameters across their episodes [default: {DEFAULT_SCENARIO}].",
            show_default=False,
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Event file in the chronology format (default: the scenario's own record)."),
    ] = None,
    population: Annotated[int, typer.Option(help="Particles per ABC-SMC generation.")] = 200,
    generations: Annotated[int, typer.Option(help="ABC-SMC generations at most.")] = 6,
    runs: Annotated[int, typer.Option("--runs", "-n", help="Replicates per model evaluation.")] = 40,
    max_minutes: Annotated[
        float, typer.Option(help="Start no new generation after this long (the one running finishes).")
    ] = 8.0,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder to write.")] = None,
    fix: FixOpt = None,
    tolerance: ToleranceOpt = None,
    free: FreeOpt = None,
) -> None:
    """Fit the free parameters to the coded record(s) by ABC-SMC (pyabc); write the posterior.

    With several scenarios, one ABC-SMC fits the shared mechanism parameters and role activities to all
    their episodes at once (the root mean square of the episodes' distances); each keeps its stances.
    """
    from sim.analysis import calibrate as cal
    from sim.scenario.loader import resolve_path

    names = scenarios or [DEFAULT_SCENARIO]
    if not max_minutes > 0:  # NaN too
        raise UserError(f"expected minutes above 0, found {max_minutes:g}", field="--max-minutes")
    if len(names) > 1 and data is not None:
        raise UserError(
            "applies to one scenario; a joint calibration reads each scenario's own record", field="--data"
        )
    _check_out(out_dir)
    loaded = [load_scenario(name) for name in names]
    for name, sc in zip(names, loaded, strict=True):
        if sc.record is None:
            raise UserError("names no record (add a `record:` section) to calibrate against", source=name)
    # checked by the calibration itself before it simulates anything
    fixed = _assignments(fix or [], "--fix")
    tolerances = _assignments(tolerance or [], "--tolerance")
    freed = _priors(free or [])
    say = lambda line: err.print(f"calibrate: {line}", highlight=False, soft_wrap=True)  # noqa: E731
    if len(loaded) > 1:
        joint = cal.calibrate_joint(
            loaded,
            [str(resolve_path(n).resolve()) for n in names],
            population=population,
            generations=generations,
            runs=runs,
            max_seconds=max_minutes * 60,
            progress=say,
            fixed=fixed,
            tolerances=tolerances,
            freed=freed,
        )
        for line in joint.lines():
            out.print(line, highlight=False, soft_wrap=True)
        folder = joint.save(out_dir or default_run_dir("calibrate-" + "-".join(joint.names)[:80]))
        out.print(f"files: {folder}/", highlight=False)
        _warn_early(joint.stopped_early, joint.stop_reason)
        return
    result = cal.calibrate(
        loaded[0],
        str(resolve_path(names[0]).resolve()),
        data,
        population=population,
        generations=generations,
        runs=runs,
        max_seconds=max_minutes * 60,
        progress=say,
        fixed=fixed,
        tolerances=tolerances,
        freed=freed,
    )
    out.print(result.summary().to_string(index=False, float_format=lambda v: f"{v:.3f}"), highlight=False)
    out.print(
        f"{result.generations} of {generations} generations, {result.evaluations} evaluations, "
        f"{result.seconds:.0f} s; {result.stop_reason}",
        highlight=False,
        soft_wrap=True,
    )
    out.print(result.recheck_line(), highlight=False, soft_wrap=True)
    folder = result.save(out_dir or default_run_dir(f"calibrate-{loaded[0].name}"))
    out.print(f"files: {folder}/", highlight=False)
    _warn_early(result.stopped_early, result.stop_reason)


def _assignments(texts: list[str], option: str) -> dict[str, object]:
    """`PATH=VALUE` texts of a repeatable option as path -> value (YAML-parsed, as --set's)."""
    from sim.scenario.loader import parse_assignment

    return dict(parse_assignment(text, option) for text in texts)


def _priors(texts: list[str]) -> dict[str, str]:
    """`PATH=LOW:HIGH` texts of --free as path -> "LOW:HIGH", the range kept as text (YAML would read
    `2:30` as the sexagesimal 150); the calibration checks the numbers."""
    out = {}
    for text in texts:
        path, sep, value = text.partition("=")
        if not sep or not path.strip() or not value.strip():
            raise UserError(f"expected PATH=LOW:HIGH, found {text[:80]!r}", field="--free")
        out[path.strip()] = value.strip()
    return out


def _warn_early(stopped_early: bool, reason: str) -> None:
    if stopped_early:
        err.print(
            f"sim: warning: the calibration STOPPED EARLY: {reason}; the posterior may be "
            "wider and less settled than a full calibration's (see manifest.json)",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
def backtest(
    scenarios: Annotated[
        list[str], typer.Argument(help="Two or more scenarios with a `record:` (the library's episodes).")
    ],
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder to write.")] = None,
    population: Annotated[int, typer.Option(help="Particles per ABC-SMC generation.")] = 40,
    generations: Annotated[int, typer.Option(help="ABC-SMC generations at most.")] = 3,
    runs: Annotated[int, typer.Option("--runs", "-n", help="Replicates per model evaluation.")] = 20,
    max_minutes: Annotated[
        float, typer.Option(help="Each training calibration starts no new generation after this long.")
    ] = 8.0,
    forecast_runs: Annotated[int, typer.Option(help="Replicates per forecast.")] = 200,
    origins: Annotated[
        str, typer.Option(help="Forecast origins, comma-separated days (0: the scenario as written).")
    ] = ",".join(map(str, (0, 3, 7, 14))),
    repeats: Annotated[
        int,
        typer.Option(
            help="Run the whole backtest this many times, every seed moved each time; the table scores "
            "each unit's mean, and each repeat's pooled skill is printed (the training fits' noise)."
        ),
    ] = 1,
    fix: FixOpt = None,
    tolerance: ToleranceOpt = None,
    free: FreeOpt = None,
    refit: Annotated[
        list[str] | None,
        typer.Option(
            "--refit",
            help="Make each training fit two stages: fit this parameter again with every other one held "
            "at the first stage's point values (repeatable; each --free parameter too; as the library's "
            "fit T was, docs/model.md 8.4).",
        ),
    ] = None,
) -> None:
    """Leave one episode out, calibrate on the others, forecast it; score against two baselines.

    `--fix`, `--tolerance`, `--free` and `--refit` shape each training fit as they shape `sim
    calibrate`'s, so a backtest scores the calibration that was shipped.
    """
    from sim.analysis import backtest as bt

    if not max_minutes > 0:  # NaN too
        raise UserError(f"expected minutes above 0, found {max_minutes:g}", field="--max-minutes")
    try:
        days = [int(x) for x in origins.split(",") if x.strip()]
    except ValueError:
        raise UserError(
            f"expected whole days separated by commas, found {origins!r}", field="--origins"
        ) from None
    if not days or min(days) < 0:
        raise UserError(f"expected days of 0 or more, found {origins!r}", field="--origins")
    _check_out(out_dir)
    loaded = [load_scenario(name) for name in scenarios]
    result = bt.backtest(
        loaded,
        population=population,
        generations=generations,
        runs=runs,
        max_seconds=max_minutes * 60,
        forecast_runs=forecast_runs,
        origins=days,
        repeats=repeats,
        fixed=_assignments(fix or [], "--fix"),
        tolerances=_assignments(tolerance or [], "--tolerance"),
        freed=_priors(free or []),
        refit=refit or [],
        progress=lambda line: err.print(f"backtest: {line}", highlight=False, soft_wrap=True),
    )
    folder = result.save(out_dir or default_run_dir("backtest-" + "-".join(sc.name for sc in loaded)[:80]))
    table = Table(title="Backtest skill (1 - score / baseline score; 95% bootstrap interval), all origins")
    for col in ("episode", "metric", "units", "model", "climatology", "persistence", "skill vs clim.",
                "skill vs pers.", "90% coverage"):  # fmt: skip
        table.add_column(col)
    for _, row in result.table[result.table["origin"] == "all"].iterrows():
        skill = [_skill(row, b) for b in ("climatology", "persistence")]
        cover = row.get("coverage_model")
        table.add_row(
            row["episode"], row["metric"], str(row["units"]),
            *(f"{row[k]:.3g}" for k in bt.FORECASTS), *skill,
            "" if cover is None or cover != cover else f"{cover:.0%}",
        )  # fmt: skip
    out.print(table)
    for line in result.lines():
        out.print(line, highlight=False, soft_wrap=True)
    extra = ", repeats.csv" if result.repeats is not None else ""
    out.print(f"files: {folder}/backtest.csv, units.csv{extra}, backtest.png, manifest.json", highlight=False)
    if result.stopped_early:
        err.print(
            f"sim: warning: the training calibration STOPPED EARLY without {', '.join(result.stopped_early)} "
            "(see manifest.json); the forecasts rest on a posterior that had not settled",
            highlight=False,
            soft_wrap=True,
        )


def _skill(row, baseline: str) -> str:
    value, low, high = (row[f"skill_vs_{baseline}{end}"] for end in ("", "_low", "_high"))
    return "n/a (baseline perfect)" if value != value else f"{value:+.2f} [{low:+.2f}, {high:+.2f}]"


@app.command()
def forecast(
    scenario: ScenarioArg = DEFAULT_SCENARIO,
    observed: Annotated[
        Path,
        typer.Option(
            help="What has happened so far: CAMEO-coded events in the records' CSV format (date, actor, "
            "target, cameo, goldstein; actor codes as in the scenario's code: fields).",
            show_default=False,
        ),
    ] = ...,  # type: ignore[assignment]
    as_of: Annotated[
        str,
        typer.Option(
            help="The last day observed (YYYY-MM-DD): the forecast starts the day after.", show_default=False
        ),
    ] = ...,  # type: ignore[assignment]
    runs: Annotated[int, typer.Option("--runs", "-n", help="Number of replicates.")] = DEFAULT_RUNS,
    seed: Annotated[int | None, typer.Option(help="Seed of the random streams.")] = None,
    out_dir: Annotated[
        str | None, typer.Option("--out", help="Run folder to write (default: runs/<scenario>-...).")
    ] = None,
    posterior: Annotated[
        Path | None, typer.Option(help="posterior.csv to draw from (default: the scenario's own).")
    ] = None,
    point_values: Annotated[
        bool, typer.Option("--point-values", help="Run the scenario's point values, not posterior draws.")
    ] = False,
) -> None:
    """Forecast a live crisis: replay the observed events up to --as-of as history, simulate the rest."""
    if point_values and posterior is not None:
        raise UserError("give either --posterior FILE or --point-values, not both", field="--point-values")
    from sim.analysis.forecast import forecast as forecast_api
    from sim.analysis.forecast import parse_date
    from sim.results.files import check_out

    when = parse_date(as_of)
    if out_dir is not None:
        check_out(out_dir)
    loaded = load_scenario(scenario)
    report_stage("running")
    result = forecast_api(
        loaded, observed, when, runs=runs, seed=seed, posterior=False if point_values else posterior
    )
    result.result.command = ["sim", *sys.argv[1:]]
    check_interrupted()
    report_stage("saving")
    name = f"forecast-{loaded.name}-{when.isoformat()}"
    try:
        folder = result.result.save(out_dir or default_run_dir(name))
    finally:
        result.result.close()
    for line in result.lines():
        out.print(line, soft_wrap=True)
    out.print(f"  files        {folder}/")


@app.command()
def dashboard(
    scenario: ScenarioArg = DEFAULT_SCENARIO,
    port: Annotated[int, typer.Option(help="Port to serve on (1-65535).")] = 8765,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
) -> None:
    """Start the what-if dashboard (Solara) in the browser at http://HOST:PORT; Ctrl-C or SIGTERM stops it."""
    from sim.app.serve import bind, check_address, serve
    from sim.scenario.loader import resolve_path

    check_address(host, port)  # the cheap checks first, each a one-line error
    path = resolve_path(scenario)
    load_scenario(path)  # a bad scenario is a one-line error here, not in the browser
    sock = bind(host, port)  # held from here on: a busy port is an error now, not after start-up
    try:
        shown_host = f"[{host}]" if ":" in host else host
        out.print(f"dashboard: http://{shown_host}:{port}/  (Ctrl-C stops it)", highlight=False)
        # serving, the server itself stops on Ctrl-C and SIGTERM and returns
        serve(sock, host, port, str(path.resolve()) if Path(scenario).exists() else scenario)
    finally:
        sock.close()
    out.print("dashboard stopped", highlight=False)


@app.command()
def validate(
    scenarios: Annotated[list[str], typer.Argument(help="Scenario files or bundled names.")],
) -> None:
    """Check scenario files; print one line per file, exit 2 if any is invalid."""
    failed = 0
    for name in scenarios:
        try:
            sc = load_scenario(name)
        except UserError as exc:
            failed += 1
            err.print(f"sim: error: {one_line(exc)}", highlight=False, soft_wrap=True)
            continue
        out.print(
            f"{name}: ok ({sc.name}: {len(sc.actors)} actors, {sc.days} days, "
            f"{len(sc.events)} scripted events"
            + (f", {len(sc.history)} before day 0" if sc.history else "")
            + ")",
            highlight=False,
        )
    if failed:
        raise typer.Exit(2)


@app.command()
def show(
    scenario: ScenarioArg = DEFAULT_SCENARIO,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a value.")] = None,
) -> None:
    """Show a scenario's actors, stances and effective parameters (after extends and --set)."""
    sc = load_scenario(scenario, set_ or None)
    out.print(Text.assemble((sc.name, "bold"), f": {sc.description}"))
    out.print(f"{sc.start_date} to {sc.end_date} ({sc.days} days), seed {sc.seed}")
    table = Table(title="Actors")
    for col in (
        "id",
        "name",
        "role",
        "capability",
        "resolve",
        "risk tol.",
        "hawkish",
        "positions (salience)",
        "postures at start",
    ):
        table.add_column(col)
    for actor_id, a in sc.actors.items():
        table.add_row(
            actor_id,
            a.name,
            a.role,
            f"{a.capability:.2f}",
            f"{a.resolve:.2f}",
            f"{a.risk_tolerance:.2f}",
            f"{a.hawkishness:.2f}",
            ", ".join(f"{k} {a.positions.get(k, 0):.1f} ({a.salience.get(k, 0):.2f})" for k in sc.issues)
            or "-",
            ", ".join(f"{p.posture}->{p.target}" for p in a.postures) or "-",
        )
    out.print(table)
    if sc.issues:
        issues = Table(title="Issues (0 ... 1)")
        for col in ("id", "what", "0 means", "1 means", "status quo"):
            issues.add_column(col)
        for k, issue in sc.issues.items():
            issues.add_row(k, issue.label, issue.low, issue.high, f"{issue.status_quo:.2f}")
        out.print(issues)
        if sc.principals:
            out.print(f"principal parties (both must sign a deal): {', '.join(sc.principals)}")
    aff = Table(title="Affinities (-1 adversaries ... +1 allies)")
    ids = list(sc.actors)
    aff.add_column("")
    for b in ids:
        aff.add_column(b[:10])
    for a in ids:
        aff.add_row(a, *("" if a == b else f"{sc.affinity(a, b):+.1f}" for b in ids))
    out.print(aff)
    mech = Table(title="Mechanism parameters")
    mech.add_column("parameter")
    mech.add_column("value")
    for group, values in sc.mechanisms.model_dump().items():
        if isinstance(values, dict):
            for key, value in values.items():
                mech.add_row(f"mechanisms.{group}.{key}", f"{value:g}")
        else:
            mech.add_row(f"mechanisms.{group}", f"{values:g}")
    out.print(mech)
    for title, listed in (("History (before day 0)", sc.history), ("Scripted events", sc.events)):
        if not listed:
            continue
        ev = Table(title=title)
        for col in ("day", "date", "id", "what"):
            ev.add_column(col)
        for e in listed:
            what = (
                f"{e.actor} {e.move} -> {e.target}"
                if e.move
                else ", ".join(f"{k} = {v}" for k, v in (e.set or {}).items())
            )
            ev.add_row(str(e.day), str(sc.start_date + dt.timedelta(days=e.day)), e.id or "-", what)
        out.print(ev)


@app.command()
def new(
    name: Annotated[str, typer.Argument(help="Scenario name: writes NAME.yaml.", show_default=False)],
    actors: Annotated[
        str,
        typer.Option(
            help="Actor ids, comma-separated, each with an optional catalogue role (id:role); "
            "by default the first two are states, the others mediators. E.g. gov,rebels:armed_group,un.",
            show_default=False,
        ),
    ],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder to write NAME.yaml in (default: the current one).")
    ] = None,
    start_date: Annotated[
        str | None, typer.Option(help="Calendar date of day 0, YYYY-MM-DD (default: today).")
    ] = None,
) -> None:
    """Write a commented starter scenario NAME.yaml to edit (never over an existing file)."""
    from sim.scenario.starter import write_starter

    start = None
    if start_date is not None:
        try:
            start = dt.date.fromisoformat(start_date.strip())
        except ValueError:
            raise UserError(
                f"expected a date YYYY-MM-DD, found {one_line(repr(start_date))[:40]}", field="--start-date"
            ) from None
    path = write_starter(name, actors, out_dir, start)
    out.print(f"{path}: written; edit its TODOs, then `sim validate {path}`", highlight=False, soft_wrap=True)


@app.command()
def schema(
    out_file: Annotated[Path | None, typer.Option("--out", help="Write to a file.")] = None,
) -> None:
    """Print the JSON Schema of scenario files (for editors)."""
    from sim.results.files import write_text_atomic

    text = json.dumps(Scenario.model_json_schema(), indent=2) + "\n"
    if out_file is None:
        sys.stdout.write(text)
    else:
        write_text_atomic(out_file, text)  # whole or not at all, even on a full disk


@app.command(name="list")
def list_scenarios() -> None:
    """List the bundled scenarios."""
    for name in bundled_scenarios():
        sc = load_scenario(name)
        summary = sc.description.split(": ")[0].split(". ")[0]
        typer.echo(f"{name:<38} {textwrap.shorten(summary, 70, placeholder='...')}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line and exit 2; Ctrl-C exits 130, SIGTERM 143."""
    # Ctrl-C must interrupt even when the shell started us with SIGINT ignored.
    with signals_handled():
        _main(argv)


def _main(argv: list[str] | None) -> None:
    try:
        code = app(args=argv, prog_name="sim", standalone_mode=False)
    except UserError as exc:
        err.print(f"sim: error: {one_line(exc)}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except Interrupted as exc:
        err.print(INTERRUPTED)
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print(INTERRUPTED)
        sys.exit(130)
    except typer.Exit as exc:
        code = exc.exit_code
    except TyperException as exc:
        err.print(f"sim: error: {one_line(exc.format_message())} (see 'sim --help')", soft_wrap=True)
        sys.exit(exc.exit_code)
    except Exception as exc:
        if os.environ.get("SIM_DEBUG"):
            raise
        err.print(
            f"sim: internal error: {type(exc).__name__}: {one_line(exc)} "
            "(set SIM_DEBUG=1 for a traceback; please report it)",
            soft_wrap=True,
        )
        sys.exit(1)
    code = code if isinstance(code, int) else 0
    if code == 130:  # typer turns Ctrl-C into exit code 130
        err.print(INTERRUPTED)
    sys.exit(code)

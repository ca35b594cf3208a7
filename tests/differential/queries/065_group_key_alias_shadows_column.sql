SELECT flags % 4 AS flags, COUNT(*) FROM Object GROUP BY flags

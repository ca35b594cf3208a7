-- ordered
SELECT flags, COUNT(*) AS n FROM Object GROUP BY flags ORDER BY n DESC, flags

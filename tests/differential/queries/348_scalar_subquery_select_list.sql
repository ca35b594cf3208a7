SELECT flags, COUNT(*) AS n, (SELECT COUNT(*) FROM Source) AS total FROM Object GROUP BY flags

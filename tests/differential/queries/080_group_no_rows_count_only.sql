SELECT COUNT(*) FROM Object WHERE objectId < 0 GROUP BY flags

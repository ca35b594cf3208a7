-- ordered
SELECT flags, STDDEV(rMag) AS s FROM Object GROUP BY flags HAVING VARIANCE(rMag) > 0 ORDER BY s DESC, flags

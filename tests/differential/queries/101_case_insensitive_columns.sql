SELECT FLAGS, count(*) FROM Object GROUP BY flags

-- ordered
SELECT COUNT(*) c FROM Object GROUP BY flags ORDER BY c DESC, flags LIMIT 1 OFFSET 2

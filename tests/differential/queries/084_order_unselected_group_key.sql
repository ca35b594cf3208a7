-- ordered
SELECT COUNT(*) FROM Object GROUP BY flags ORDER BY flags DESC LIMIT 4

SELECT flags, COUNT(*) FROM Object GROUP BY flags UNION SELECT 99, 1 UNION SELECT extendedness, 2 FROM Object WHERE extendedness IS NULL

SELECT extendedness, flags, COUNT(*) FROM Object GROUP BY 1, 2

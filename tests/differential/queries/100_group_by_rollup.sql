SELECT extendedness, COUNT(*) FROM Object GROUP BY extendedness WITH ROLLUP

SELECT extendedness, COUNT(*), COUNT(uMag), SUM(uMag), AVG(iMag), MIN(iMag), MAX(uMag) FROM Object GROUP BY extendedness

-- ordered
SELECT extendedness, GROUP_CONCAT(name ORDER BY objectId) AS names, COUNT(*) FROM Object WHERE objectId < 300 GROUP BY extendedness HAVING COUNT(name) >= 0 ORDER BY extendedness

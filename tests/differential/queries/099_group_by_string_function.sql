SELECT LEFT(name, 5) AS p, COUNT(*), MIN(objectId) FROM Object GROUP BY LEFT(name, 5)

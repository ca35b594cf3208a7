-- ordered
SELECT bucket, SUM(n) FROM (SELECT FLOOR(n / 3) AS bucket, n FROM (SELECT objectId, COUNT(*) AS n FROM Source WHERE filterId = 2 GROUP BY objectId) AS a) AS b GROUP BY bucket ORDER BY bucket

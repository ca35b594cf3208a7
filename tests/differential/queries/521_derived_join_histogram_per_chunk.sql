SELECT s.n, COUNT(*), AVG(o.gMag) FROM Object o JOIN (SELECT objectId, COUNT(*) AS n FROM Source WHERE filterId = 2 GROUP BY objectId) AS s ON s.objectId = o.objectId GROUP BY s.n

SELECT o.objectId, o.flags, s.n FROM Object o JOIN (SELECT objectId, COUNT(*) AS n FROM Source GROUP BY objectId) AS s ON s.objectId = o.objectId WHERE o.flags = 1 AND s.n > 5

SELECT n, COUNT(*) AS objects FROM (SELECT objectId, COUNT(*) AS n FROM Source GROUP BY objectId) AS t GROUP BY n

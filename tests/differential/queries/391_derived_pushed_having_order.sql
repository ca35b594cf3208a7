-- ordered
-- an aggregate over a derived table grouped by the director key runs in the chunks (czar/plan_derived.py)
SELECT n, COUNT(*) AS c, MIN(m), MAX(m), AVG(m) FROM (SELECT objectId, COUNT(*) AS n, MAX(psfFlux) AS m FROM Source WHERE filterId < 4 GROUP BY objectId) AS t GROUP BY n HAVING COUNT(*) > 1 ORDER BY c DESC, n LIMIT 5

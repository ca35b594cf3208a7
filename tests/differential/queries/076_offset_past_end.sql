-- ordered
SELECT objectId FROM Object ORDER BY objectId LIMIT 5 OFFSET 100000

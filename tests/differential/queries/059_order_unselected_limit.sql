-- ordered
SELECT objectId FROM Object ORDER BY ra, objectId LIMIT 10

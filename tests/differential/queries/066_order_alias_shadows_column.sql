-- ordered
SELECT objectId, -ra AS ra FROM Object ORDER BY ra, objectId LIMIT 5

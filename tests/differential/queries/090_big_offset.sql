-- ordered
SELECT objectId, ra FROM Object ORDER BY objectId LIMIT 5 OFFSET 19990

SELECT objectId FROM Object ORDER BY objectId LIMIT 0

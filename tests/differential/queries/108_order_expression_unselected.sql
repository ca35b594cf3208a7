-- ordered
SELECT objectId FROM Object ORDER BY ra + decl DESC, objectId LIMIT 7

-- ordered
SELECT objectId, decl FROM Object ORDER BY 2 DESC, 1 LIMIT 12

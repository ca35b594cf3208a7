SELECT COUNT(*) + 1 AS c FROM Object WHERE objectId < 0

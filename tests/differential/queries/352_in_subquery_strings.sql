SELECT COUNT(*) FROM Object WHERE name IN (SELECT name FROM Object WHERE objectId < 100)

SELECT COUNT(*), MIN(name) FROM Object WHERE name > ALL (SELECT name FROM Object WHERE objectId < 300 AND name IS NOT NULL)

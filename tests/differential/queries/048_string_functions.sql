SELECT UPPER(name) AS u, CONCAT(name, '-', flags) AS c, LENGTH(name) FROM Object WHERE objectId BETWEEN 1000 AND 1500

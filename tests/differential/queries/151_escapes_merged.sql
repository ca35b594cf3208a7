SELECT objectId, CONCAT('a', CHAR(9), 'b\\c', CHAR(10), IFNULL(name, 'N')) AS s, '\\N' AS t FROM Object WHERE objectId < 3000

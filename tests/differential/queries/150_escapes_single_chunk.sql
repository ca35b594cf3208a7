SELECT objectId, CONCAT('a', CHAR(9), 'b\\c', CHAR(10), 'd', CHAR(0), IFNULL(name, 'N')) AS s, NULL AS n, '\\N' AS literal_backslash_n FROM Object WHERE objectId = 4203

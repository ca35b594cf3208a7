SELECT MAX(ra) AS ra, MIN(decl) AS decl FROM Object

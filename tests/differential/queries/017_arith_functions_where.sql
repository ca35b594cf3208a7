SELECT objectId, SQRT(POW(ra - 10, 2) + POW(decl, 2)) AS dist FROM Object WHERE SQRT(POW(ra - 10, 2) + POW(decl, 2)) < 1.5

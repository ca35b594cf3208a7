SELECT objectId, ra, decl FROM Object WHERE decl BETWEEN -1 AND 1 AND ra BETWEEN 0 AND 5

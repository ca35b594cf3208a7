SELECT SUM(gMag - rMag), MAX(ABS(decl)), COUNT(*) * 2 AS twice FROM Object

SELECT objectId, ABS(decl) AS ad FROM Object WHERE CASE WHEN flags > 8 THEN ABS(decl) < 1 ELSE ABS(decl) < 0.5 END

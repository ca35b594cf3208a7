SELECT objectId, CASE WHEN gMag < 20 THEN 'bright' WHEN gMag < 23 THEN 'mid' ELSE 'faint' END AS cls FROM Object WHERE objectId % 50 = 3

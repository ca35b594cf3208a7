SELECT objectId, IF(gMag IS NULL, -1, gMag) AS g, GREATEST(uMag, gMag) AS mx, NULLIF(flags, 0) AS nf FROM Object WHERE MOD(objectId, 7) = 0 AND objectId < 3000

SELECT objectId, gMag FROM Object WHERE gMag > ALL (SELECT gMag FROM Object WHERE flags = 3 AND extendedness = 1 AND gMag IS NOT NULL AND objectId < 3000)

SELECT objectId, gMag FROM Object WHERE gMag > (SELECT AVG(gMag) + 2 * STDDEV(gMag) FROM Object)

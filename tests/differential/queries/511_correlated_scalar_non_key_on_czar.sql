SELECT o.objectId, o.gMag FROM Object o WHERE o.flags = 3 AND o.gMag > (SELECT AVG(o2.gMag) + 2 * STDDEV(o2.gMag) FROM Object o2 WHERE o2.extendedness = o.extendedness)

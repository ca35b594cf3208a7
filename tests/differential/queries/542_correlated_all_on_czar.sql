SELECT o.objectId, o.gMag FROM Object o WHERE o.flags = 2 AND o.objectId < 40000 AND o.gMag <= ALL (SELECT o2.gMag FROM Object o2 WHERE o2.flags = o.flags AND o2.extendedness = o.extendedness)

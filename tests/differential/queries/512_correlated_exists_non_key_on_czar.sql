SELECT o.objectId FROM Object o WHERE o.flags = 0 AND o.gMag < 19 AND EXISTS (SELECT 1 FROM Object o2 WHERE o2.flags = o.flags + 8 AND o2.gMag < o.gMag - 1)

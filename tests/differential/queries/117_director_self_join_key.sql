SELECT a.objectId, b.gMag FROM Object a JOIN Object b ON a.objectId = b.objectId WHERE a.decl > 14.8

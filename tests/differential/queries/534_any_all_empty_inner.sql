SELECT COUNT(*), SUM(gMag > ALL (SELECT gMag FROM Object WHERE objectId < 0)), SUM(gMag < ANY (SELECT gMag FROM Object WHERE objectId < 0)) FROM Object

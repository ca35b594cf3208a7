SELECT COUNT(*), SUM((gMag < ANY (SELECT gMag FROM Object WHERE objectId < 2000)) IS NULL), SUM(gMag < SOME (SELECT gMag FROM Object WHERE objectId < 2000)) FROM Object

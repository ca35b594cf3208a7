SELECT COUNT(*), (SELECT objectId FROM Object WHERE objectId < 0) AS none FROM Object WHERE gMag IS NULL

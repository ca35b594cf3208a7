-- ordered
SELECT name, objectId FROM Object WHERE objectId < 300 ORDER BY name DESC, objectId

SELECT 1 AS one, 'x', objectId FROM Object WHERE objectId < 100

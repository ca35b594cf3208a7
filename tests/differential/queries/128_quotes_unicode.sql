SELECT 'é' AS e, 'it''s' AS q, objectId FROM Object WHERE objectId = 13 OR name = 'obj-1''s'

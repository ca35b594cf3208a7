SELECT objectId FROM Object WHERE objectId = 13 AND objectId = 23

SELECT ra, ra, objectId FROM Object WHERE objectId < 100

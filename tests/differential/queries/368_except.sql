SELECT objectId FROM Object WHERE objectId < 500 EXCEPT SELECT objectId FROM Source WHERE psfFlux > 30

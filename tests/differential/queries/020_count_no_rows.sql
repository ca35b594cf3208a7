SELECT COUNT(*) FROM Source WHERE psfFlux < -1

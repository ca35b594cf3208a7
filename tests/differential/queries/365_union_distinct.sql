SELECT flags FROM Object WHERE gMag < 18 UNION SELECT filterId FROM Source WHERE psfFlux > 500

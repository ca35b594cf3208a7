SELECT COUNT(*), SUM((gMag < ANY (SELECT psfFlux / 3 FROM Source WHERE filterId = 1)) IS NULL), SUM(gMag >= ALL (SELECT psfFlux FROM Source WHERE filterId = 1 AND psfFlux IS NOT NULL)) FROM Object
